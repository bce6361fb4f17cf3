/* Packet decode (twin: decode.py's py_decode) and tunnel carriers and decapsulation
   (twins: decode.py's _carrier_rows_numpy and py_decap). */

#include "fast.h"

/* ------------------------------------------------------------------- packet decode */
/* decode_batch: link, IP and TCP/UDP headers of every record of a batch, exactly like
   the numpy decoder in decode.py (py_decode), including its reads of clipped offsets. */

typedef struct {
    const unsigned char *b;
    Py_ssize_t last; /* len - 8: reads clip their start offset to [0, last] */
} gb_t;

static inline Py_ssize_t gclip(const gb_t *g, long long i) {
    /* An offset in [0, last], nearly every read, passes one unsigned test (two tests and
       two conditional moves each read made ~4 % of decode_batch, callgrind). last >= 0
       wherever there is a record to read: its header alone is 16 bytes. */
    if ((unsigned long long)i <= (unsigned long long)g->last) return (Py_ssize_t)i;
    return i < 0 ? 0 : g->last;
}
static inline long long g8(const gb_t *g, long long i) { return g->b[gclip(g, i)]; }
static inline long long g16(const gb_t *g, long long i) { return BE16(g->b + gclip(g, i)); }
static inline long long g32(const gb_t *g, long long i) { return BE32(g->b + gclip(g, i)); }
static inline uint64_t g64(const gb_t *g, long long i) { return BE64(g->b + gclip(g, i)); }
static inline long long gl16(const gb_t *g, long long i) { return LE16(g->b + gclip(g, i)); }
static inline long long gl32(const gb_t *g, long long i) { return LE32(g->b + gclip(g, i)); }

/* Ethernet at o (VLAN tags, PPPoE session): the l3 offset; *et the ethertype. The same
   steps as decode_batch's own Ethernet branch, which stays written out in its loop (keeping
   the hot loop's code as it was measured; see decode_batch). */
static inline long long eth_l3(const gb_t *g, long long o, long long *et) {
    long long e = g16(g, o + 12), pos = o + 14;
    for (int k = 0; k < 3; k++) {
        if (e == 0x8100 || e == 0x88A8 || e == 0x9100) {
            e = g16(g, pos + 2);
            pos += 4;
        } else break;
    }
    if (e == 0x8864) {
        long long ppp = g16(g, pos + 6);
        e = ppp == 0x21 ? 0x0800 : (ppp == 0x57 ? 0x86DD : 0);
        pos += 8;
    }
    *et = e;
    return pos;
}

/* MPLS label stacks, exactly as decode.py's _mpls_stack (which cites the format's sources):
   the offset after the stack in *after, and what follows - 4 (IPv4), 6 (IPv6), 1 (an
   Ethernet pseudowire frame at *after + 4) or 0 (unreadable) - or -1 when cut short. */
enum { MPLS_MAX_LABELS = 8 };
static int mpls_stack(const gb_t *g, long long pos, long long end, long long *after) {
    long long label = 0;
    int bottom = 0;
    for (int k = 0; k < MPLS_MAX_LABELS; k++) {
        if (pos + 4 > end) return -1;
        long long shim = g32(g, pos);
        label = shim >> 12;
        pos += 4;
        if ((shim >> 8) & 1) {
            bottom = 1;
            break;
        }
    }
    *after = pos;
    if (!bottom) return 0;
    if (label == 0) return 4;
    if (label == 2) return 6;
    if (label < 15) return 0;
    if (pos + 4 > end) return -1;
    long long nibble = g8(g, pos) >> 4;
    return nibble == 4 ? 4 : (nibble == 6 ? 6 : (nibble == 0 ? 1 : 0));
}

/* The link types past the common ones, exactly as decode.py's _ppp, _dot11, _radiotap and
   _ppi (which cite the formats' sources). Each sets *l3 and *et (0: not IP) and may lower
   *end (an FCS at the end of the frame); it returns 0, or LINK_CUT for a link header cut
   short or malformed (counted as a truncated header). */
enum { LINK_CUT = 2, RADIOTAP_MAX_PRESENT = 8, PPI_MAX_FIELDS = 8, LINK_DOT11_SWAPPED = -105 };

static inline long long fcs_end(long long o, long long cap, long long wire) {
    long long w = wire - 4 > 0 ? wire - 4 : 0;
    return o + (cap < w ? cap : w);
}

static int dot11(const gb_t *g, long long o, long long end, int datapad, int swapped, long long *l3,
                 long long *et) {
    long long fc0 = g8(g, o), fc1 = g8(g, o + 1);
    if (swapped) { /* LINK_DOT11_SWAPPED: the frame control bytes come in the other order */
        long long t = fc0;
        fc0 = fc1;
        fc1 = t;
    }
    int data = (fc0 & 0x0F) == 0x08 && !(fc0 & 0x40) && !(fc1 & 0x40);
    int qos = (fc0 & 0x80) != 0, four = (fc1 & 0x03) == 0x03;
    long long hl = 24 + (four ? 6 : 0) + (qos ? 2 : 0) + (qos && fc1 >= 0x80 ? 4 : 0);
    if (datapad) hl = (hl + 3) & ~3LL;
    long long llc = o + hl;
    *l3 = llc + 8;
    if (end - o < 2) return LINK_CUT;
    if (!data) {
        *et = 0;
        return 0;
    }
    if (end - o < hl + 8) return LINK_CUT;
    int amsdu = qos && g8(g, o + (four ? 30 : 24)) >= 0x80;
    long long oui = g8(g, llc + 5);
    int snap = g16(g, llc) == 0xAAAA && g8(g, llc + 2) == 0x03 && g16(g, llc + 3) == 0 && (oui == 0x00 || oui == 0xF8);
    *et = !amsdu && snap ? g16(g, llc + 6) : 0;
    return 0;
}

static __attribute__((noinline)) int link_more(const gb_t *g, int lt, long long o, long long cap, long long wire,
                                                long long *l3, long long *et, long long *end) {
    if (lt == 9 || lt == 50) { /* PPP, PPP in HDLC-like framing; Cisco HDLC inside */
        long long b0 = g8(g, o), e;
        if (b0 == 0x0F || b0 == 0x8F) {
            *l3 = o + 4;
            e = g16(g, o + 2);
        } else {
            long long pos = b0 == 0xFF && g8(g, o + 1) == 0x03 ? o + 2 : o, p0 = g8(g, pos), proto;
            if (p0 & 1) {
                proto = p0;
                *l3 = pos + 1;
            } else {
                proto = g16(g, pos);
                *l3 = pos + 2;
            }
            e = proto == 0x21 ? 0x0800 : (proto == 0x57 ? 0x86DD : 0);
        }
        if (*l3 > *end) return LINK_CUT;
        *et = e;
        return 0;
    }
    if (lt == 104) { /* Cisco HDLC */
        *l3 = o + 4;
        if (o + 4 > *end) return LINK_CUT;
        *et = g16(g, o + 2);
        return 0;
    }
    if (lt == 105) return dot11(g, o, *end, 0, 0, l3, et);
    if (lt == LINK_DOT11_SWAPPED) return dot11(g, o, *end, 0, 1, l3, et);
    if (lt == 127) { /* radiotap + 802.11 */
        if (cap < 8) return LINK_CUT;
        if (g8(g, o) != 0) {
            *et = 0;
            return 0;
        }
        long long rlen = gl16(g, o + 2), p0 = gl32(g, o + 4);
        if (rlen < 8 || rlen > cap) return LINK_CUT;
        long long last = o + 4;
        int more = (p0 >> 31) == 1;
        for (int k = 1; k < RADIOTAP_MAX_PRESENT && more; k++) {
            last += 4;
            more = (gl32(g, last) >> 31) == 1;
        }
        long long fields = last + 4;
        long long fpos = p0 & 1 ? o + ((fields - o + 7) & ~7LL) + 8 : fields;
        long long flags = (p0 & 2) && !more && fpos < o + rlen ? g8(g, fpos) : 0;
        if (flags & 0x40) { /* bad FCS */
            *et = 0;
            return 0;
        }
        if (flags & 0x10) *end = fcs_end(o, cap, wire);
        return dot11(g, o + rlen, *end, (flags & 0x20) != 0, 0, l3, et);
    }
    if (lt == 192) { /* PPI */
        long long pflags = g8(g, o + 1), plen = gl16(g, o + 2), dlt = gl32(g, o + 4);
        if (cap < 8 || plen < 8 || plen > cap) return LINK_CUT;
        long long stop = o + plen;
        if (dlt == 1) {
            *l3 = eth_l3(g, stop, et);
            return 0;
        }
        if (dlt != 105) {
            *l3 = stop;
            *et = 0;
            return 0;
        }
        long long pos = o + 8, cflags = 0;
        for (int k = 0; k < PPI_MAX_FIELDS && pos + 4 <= stop; k++) {
            long long flen = gl16(g, pos + 2);
            if (gl16(g, pos) == 2 && flen == 20 && pos + 24 <= stop) { /* 802.11-Common */
                cflags = gl16(g, pos + 12);
                break;
            }
            pos += pflags & 1 ? (flen + 7) & ~3LL : flen + 4;
        }
        if (cflags & 0x0004) { /* FCS invalid */
            *et = 0;
            return 0;
        }
        if (cflags & 0x0001) *end = fcs_end(o, cap, wire);
        return dot11(g, stop, *end, 0, 0, l3, et);
    }
    return 1;
}

/* MPLS on a link, exactly as decode.py's _mpls: *l3 and *et behind the label stack (the
   pseudowire's Ethernet frame read through); LINK_CUT when the stack or that frame's
   header is cut short. */
static __attribute__((noinline)) int mpls_link(const gb_t *g, long long pos, long long end,
                                               long long *l3, long long *et) {
    long long after = pos;
    int kind = mpls_stack(g, pos, end, &after);
    if (kind < 0) return LINK_CUT;
    *l3 = after;
    if (kind == 1) {
        long long e;
        if (after + 18 > end) return LINK_CUT;
        *l3 = eth_l3(g, after + 4, &e);
        *et = (e == 0x8847 || e == 0x8848) ? 0 : e;
        return 0;
    }
    *et = kind == 4 ? 0x0800 : (kind == 6 ? 0x86DD : 0);
    return 0;
}

/* The flow protocols past TCP and UDP, exactly as decode.py's L4_HEADER, L4_PAYLOAD and
   _rare_ports (which cite the sources): the header bytes a packet must hold (-1: no flow), and its
   ports and flags. ICMP pairs (Community ID spec): requests get SYN, replies SYN|ACK,
   one-way types SYN|DIRECTED (0x82) and their code as the "destination port". */
static inline long long l4_need(long long proto) {
    switch (proto) {
    case 1: case 58: return 8;
    case 132: return 12;
    case 47: return 4;
    case 4: case 41: return 0;
    default: return -1;
    }
}

static long long icmp_paired(int v6, long long type) {
    if (!v6) {
        switch (type) {
        case 8: return 0;
        case 0: return 8;
        case 10: return 9;
        case 9: return 10;
        case 13: return 14;
        case 14: return 13;
        case 15: return 16;
        case 16: return 15;
        case 17: return 18;
        case 18: return 17;
        default: return -1;
        }
    }
    switch (type) {
    case 128: return 129;
    case 129: return 128;
    case 130: return 131;
    case 131: return 130;
    case 133: return 134;
    case 134: return 133;
    case 135: return 136;
    case 136: return 135;
    case 139: return 140;
    case 140: return 139;
    case 144: return 145;
    case 145: return 144;
    default: return -1;
    }
}

static int icmp_request(int v6, long long type) {
    if (!v6) return type == 8 || type == 10 || type == 13 || type == 15 || type == 17;
    return type == 128 || type == 130 || type == 133 || type == 135 || type == 139 || type == 144;
}

typedef struct {
    long long sport, dport, flags, hdr;
} l4_t;

static __attribute__((noinline)) l4_t rare_l4(gb_t g, long long proto, long long l4, long long end) {
    l4_t r = {0, 0, 0, proto == 47 ? 0 : l4_need(proto)}; /* the payload: L4_PAYLOAD */
    if (proto == 1 || proto == 58) {
        int v6 = proto == 58;
        long long type = g8(&g, l4), code = g8(&g, l4 + 1), paired = icmp_paired(v6, type);
        r.sport = type;
        r.dport = paired >= 0 ? paired : code;
        r.flags = paired < 0 ? 0x82 : (icmp_request(v6, type) ? 0x02 : 0x12);
    } else if (proto == 132) {
        long long chunk = end - l4 > 12 ? g8(&g, l4 + 12) : 0;
        r.sport = g16(&g, l4);
        r.dport = g16(&g, l4 + 2);
        r.flags = chunk == 1 ? 0x02 : (chunk == 2 ? 0x12 : 0);
    }
    return r;
}

/* UDP ports that carry tunnels (decode.py's TUNNEL_PORTS). */
static inline int tunnel_port(long long port) {
    if ((unsigned long long)(port - 2152) > 6081 - 2152) return 0; /* most ports: one test */
    return port == 4789 || port == 6081 || port == 2152 || port == 5247 || port == 3544;
}

/* decode_batch(buf, data_off, caplen, link, ts, wirelen, stream_off, keep, proto, src_hi,
                src_lo, dst_hi, dst_lo, sport, dport, flags, seq, poff, plen, pcap, ts_out,
                wirelen_out, stream_off_out) -> (kept, non_ip, fragments, other, truncated,
                                                 unsupported, carriers)
   The first seven are read, per record; the rest written, per kept packet (keep: its
   record). The record's time, wire length and stream offset are copied to the kept rows
   here, in the loop that reads the record anyway: three np.take calls after it cost ~0.8 %
   of a scan's instructions (callgrind, generated bench input). */
enum { NBUF = 23, NBUF_IN = 7, DECODE_PREFETCH = 8 };

PyObject *decode_batch(PyObject *self, PyObject *args) {
    PyObject *objs[NBUF];
    Py_buffer v[NBUF];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15],
                          &objs[16], &objs[17], &objs[18], &objs[19], &objs[20], &objs[21],
                          &objs[22]))
        return NULL;
    if (take_buffers(objs, v, NBUF, NBUF_IN) < 0)
        return NULL;
    gb_t g = {(const unsigned char *)v[0].buf, v[0].len - 8};
    const int64_t *data_off = (const int64_t *)v[1].buf, *caplen = (const int64_t *)v[2].buf;
    const int32_t *link = (const int32_t *)v[3].buf;
    const double *ts = (const double *)v[4].buf;
    const int64_t *wirelen = (const int64_t *)v[5].buf, *stream_off = (const int64_t *)v[6].buf;
    int64_t *o_keep = v[7].buf;
    uint8_t *o_proto = v[8].buf;
    uint64_t *o_shi = v[9].buf, *o_slo = v[10].buf, *o_dhi = v[11].buf, *o_dlo = v[12].buf;
    int64_t *o_sport = v[13].buf, *o_dport = v[14].buf;
    uint8_t *o_flags = v[15].buf;
    int64_t *o_seq = v[16].buf, *o_poff = v[17].buf, *o_plen = v[18].buf, *o_pcap = v[19].buf;
    double *o_ts = v[20].buf;
    int64_t *o_wirelen = v[21].buf, *o_stream_off = v[22].buf;
    Py_ssize_t n = v[1].len / (Py_ssize_t)sizeof(int64_t), kept = 0;
    /* every column must hold a row per record (the outputs: per packet they may keep) */
    static const Py_ssize_t width[NBUF] = {0, 8, 8, 4, 8, 8, 8, 8, 1, 8, 8, 8, 8, 8, 8, 1, 8, 8,
                                           8, 8, 8, 8, 8};
    for (int k = 1; k < NBUF; k++) {
        if (v[k].len < n * width[k]) {
            release_buffers(v, NBUF);
            PyErr_SetString(PyExc_ValueError, "decode_batch: a column shorter than the batch");
            return NULL;
        }
    }
    long long non_ip = 0, frags = 0, other = 0, truncated = 0, unsupported = 0, carriers = 0;
    const uint64_t V4PREFIX = 0x0000FFFF00000000ULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long o = data_off[i], l3 = o, et = 0, pend = o + caplen[i];
        int lt = link[i];
        if (i + DECODE_PREFETCH < n) {  /* headers a few packets ahead (see walk_pcap) */
            long long ahead = data_off[i + DECODE_PREFETCH];
            if (ahead >= 0 && ahead + 64 <= g.last) {
                __builtin_prefetch(g.b + ahead);
                __builtin_prefetch(g.b + ahead + 63);
            }
        }
        if (lt == 1) {
            et = g16(&g, o + 12);
            long long pos = o + 14;
            for (int k = 0; k < 3; k++) {
                if (et == 0x8100 || et == 0x88A8 || et == 0x9100) {
                    et = g16(&g, pos + 2);
                    pos += 4;
                } else break;
            }
            if (et == 0x8864) {
                long long ppp = g16(&g, pos + 6);
                et = ppp == 0x21 ? 0x0800 : (ppp == 0x57 ? 0x86DD : 0);
                pos += 8;
            }
            l3 = pos;
        } else if (lt == 113) {
            l3 = o + 16;
            et = g16(&g, o + 14);
        } else if (lt == 276) {
            l3 = o + 20;
            et = g16(&g, o);
        } else if (lt == 101 || lt == 228 || lt == 229 || lt == 12 || lt == 14) {
            long long ver = g8(&g, o) >> 4;
            et = ver == 4 ? 0x0800 : (ver == 6 ? 0x86DD : 0);
        } else if (lt == 0 || lt == 108) {
            long long fam = g32(&g, o);
            if (lt == 0 && fam > 0xFFFF)
                fam = ((fam & 0xFF) << 24) | ((fam & 0xFF00) << 8) | ((fam >> 8) & 0xFF00) | (fam >> 24);
            et = fam == 2 ? 0x0800 : ((fam == 10 || fam == 24 || fam == 28 || fam == 30) ? 0x86DD : 0);
            l3 = o + 4;
        } else { /* the other link types, out of line. Copies: no address of the loop's own
                    variables (g above all) is taken, so they stay in registers; taking one
                    cost the Ethernet path about 9 % more instructions (callgrind). */
            gb_t gc = g;
            long long ml3 = o, met = 0, mend = pend;
            int r = link_more(&gc, lt, o, caplen[i], wirelen[i], &ml3, &met, &mend);
            if (r == 1) {
                unsupported++;
                continue; /* etype -1: neither IP nor counted as non-IP */
            }
            if (r == LINK_CUT) {
                truncated++;
                continue;
            }
            l3 = ml3, et = met, pend = mend;
        }
        if (et == 0x8847 || et == 0x8848) { /* MPLS, on any link: out of line, on a copy */
            gb_t gc = g;
            long long ml3 = l3, met = 0;
            if (mpls_link(&gc, l3, pend, &ml3, &met) == LINK_CUT) {
                truncated++;
                continue;
            }
            l3 = ml3, et = met;
        }
        long long avail = pend - l3, first = g8(&g, l3), ver = first >> 4;
        int is4 = et == 0x0800 && ver == 4 && avail >= 20;
        int is6 = et == 0x86DD && ver == 6 && avail >= 40;
        if (et != 0x0800 && et != 0x86DD) {
            non_ip++;
            continue;
        }
        if (!is4 && !is6) {
            truncated++;
            continue;
        }
        long long l4, ip_end, proto;
        int frag;
        if (is4) {
            long long ihl = (first & 0x0F) * 4, total = g16(&g, l3 + 2), fr = g16(&g, l3 + 6);
            frag = (fr & 0x1FFF) != 0 || (fr & 0x2000) != 0;
            proto = g8(&g, l3 + 9);
            ip_end = total >= ihl ? l3 + total : pend;
            if (total == 0) ip_end = pend;
            l4 = l3 + ihl;
        } else {
            long long plen = g16(&g, l3 + 4), nh = g8(&g, l3 + 6);
            l4 = l3 + 40;
            frag = 0;
            for (int k = 0; k < 4; k++) {
                int ext = nh == 0 || nh == 43 || nh == 60, fr = nh == 44;
                if (!ext && !fr) break;
                if (fr) frag = 1;
                long long step = fr ? 8 : (g8(&g, l4 + 1) + 1) * 8;
                nh = g8(&g, l4);
                l4 += step;
            }
            ip_end = plen == 0 ? pend : l3 + 40 + plen;
            proto = nh;
        }
        if (frag) {
            frags++;
            continue;
        }
        int tcp = proto == 6 && pend - l4 >= 20, udp = proto == 17 && pend - l4 >= 8;
        if (!tcp && !udp) { /* truncated TCP/UDP, the other flow protocols, or no flow */
            long long need = l4_need(proto);
            if (proto == 6 || proto == 17 || (need >= 0 && pend - l4 < need)) {
                truncated++;
                continue;
            }
            if (need < 0) {
                other++;
                continue;
            }
        }
        o_keep[kept] = i;
        o_ts[kept] = ts[i];
        o_wirelen[kept] = wirelen[i];
        o_stream_off[kept] = stream_off[i];
        o_proto[kept] = (uint8_t)proto;
        if (is4) {
            o_shi[kept] = 0;
            o_dhi[kept] = 0;
            o_slo[kept] = V4PREFIX | (uint64_t)g32(&g, l3 + 12);
            o_dlo[kept] = V4PREFIX | (uint64_t)g32(&g, l3 + 16);
        } else {
            o_shi[kept] = g64(&g, l3 + 8);
            o_slo[kept] = g64(&g, l3 + 16);
            o_dhi[kept] = g64(&g, l3 + 24);
            o_dlo[kept] = g64(&g, l3 + 32);
        }
        long long hdr = 8;
        if (tcp) {
            o_sport[kept] = g16(&g, l4);
            o_dport[kept] = g16(&g, l4 + 2);
            long long doff = (g8(&g, l4 + 12) >> 4) * 4;
            hdr = doff > 20 ? doff : 20;
            o_flags[kept] = (uint8_t)g8(&g, l4 + 13);
            o_seq[kept] = g32(&g, l4 + 4);
        } else if (udp) {
            long long sp = g16(&g, l4), dp = g16(&g, l4 + 2);
            o_sport[kept] = sp;
            o_dport[kept] = dp;
            o_flags[kept] = 0;
            o_seq[kept] = 0;
            carriers += tunnel_port(dp) || tunnel_port(sp);
        } else {
            l4_t rare = rare_l4(g, proto, l4, pend);
            o_sport[kept] = rare.sport;
            o_dport[kept] = rare.dport;
            o_flags[kept] = (uint8_t)rare.flags;
            o_seq[kept] = 0;
            hdr = rare.hdr;
            carriers += proto == 47 || proto == 4 || proto == 41;
        }
        long long poff = l4 + hdr, plen = ip_end - poff;
        if (plen < 0) plen = 0;
        long long pcap = (ip_end < pend ? ip_end : pend) - poff;
        if (pcap < 0) pcap = 0;
        if (pcap > plen) pcap = plen;
        o_poff[kept] = poff;
        o_plen[kept] = plen;
        o_pcap[kept] = pcap;
        kept++;
    }
    release_buffers(v, NBUF);
    return Py_BuildValue("nLLLLLL", kept, non_ip, frags, other, truncated, unsupported, carriers);
}

/* carrier_rows(proto, sport, dport, proto_kind, port_kind, rows_out, kinds_out) -> count

   The packets of a decoded level that carry a tunnel, in order, and the kind of each
   (ENCAP_*): decode.py's _carrier_rows_numpy compiled (the twin, _carriers' non-zero
   rows; tests/test_tunnels.py compares them on random packets). ``proto_kind``: the kind
   by IP protocol (256 int64: GRE, IP-in-IP, IPv6), ``port_kind``: by UDP port (65,536
   bytes), the destination port's kind first, else the source port's. One pass where
   numpy looked up every packet's protocol and every UDP packet's two ports, then found
   the non-zero kinds (~5 numpy passes and gathers a level, every batch that has a
   carrier). */
PyObject *carrier_rows(PyObject *self, PyObject *args) {
    PyObject *objs[7];
    Py_buffer v[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5], &objs[6]))
        return NULL;
    if (take_buffers(objs, v, 7, 5) < 0)
        return NULL;
    const uint8_t *proto = v[0].buf, *port_kind = v[4].buf;
    const int64_t *sport = v[1].buf, *dport = v[2].buf, *proto_kind = v[3].buf;
    int64_t *rows_out = v[5].buf, *kinds_out = v[6].buf;
    Py_ssize_t n = v[0].len, count = 0;
    int bad = v[1].len / 8 < n || v[2].len / 8 < n || v[3].len < 256 * 8 || v[4].len < 65536 ||
              v[5].len / 8 < n || v[6].len / 8 < n;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int64_t k = proto_kind[proto[i]];
        if (proto[i] == 17) {
            int64_t sp = sport[i], dp = dport[i];
            if ((uint64_t)sp > 65535 || (uint64_t)dp > 65535) {
                bad = 1;
                break;
            }
            k = port_kind[dp];
            if (!k) k = port_kind[sp];
        }
        if (k) {
            rows_out[count] = i;
            kinds_out[count] = k;
            count++;
        }
    }
    release_buffers(v, 7);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "carrier_rows: a port out of range or a short column");
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

/* decap_batch(buf, kinds, off, cap, wire, link_out, off_out, cap_out, wire_out, encap_out,
               ident_out, key_out) -> (malformed, non_ip, fragments)

   The encapsulation header of each tunnel carrier, exactly as decode.py's py_decap (whose
   docstring cites each format's source): what is inside (its link type, 0 for nothing to
   decode), where it starts and how long it is, the encapsulation, its identifier and the
   part of it that names the tunnel both ways. */
enum {
    ENC_VXLAN = 1, ENC_GENEVE, ENC_GTPU, ENC_CAPWAP, ENC_TEREDO, ENC_GRE, ENC_ERSPAN1,
    ENC_ERSPAN2, ENC_ERSPAN3, ENC_PPTP, ENC_IPIP, ENC_IP6
};
enum { R_INNER, R_MALFORMED, R_NON_IP, R_FRAGMENT, R_NONE, GTPU_MAX_EXT = 4 };

typedef struct {
    int res;
    long long link, hdr, ident, key, encap;
} decap_t;

static decap_t decap_gre(const gb_t *g, long long o, long long c) {
    decap_t d = {R_MALFORMED, 0, 0, -1, 0, ENC_GRE};
    long long flags = g16(g, o), ptype = g16(g, o + 2), ver = flags & 7;
    int csum = (flags & 0x8000) != 0, routed = (flags & 0x4000) != 0;
    int keyed = (flags & 0x2000) != 0, seqd = (flags & 0x1000) != 0, ack = (flags & 0x0080) != 0;
    long long h = ver == 1 ? 8 + (seqd ? 4 : 0) + (ack ? 4 : 0)
                           : 4 + (csum ? 4 : 0) + (keyed ? 4 : 0) + (seqd ? 4 : 0);
    if (c < 4 || (ver != 0 && ver != 1) || (flags & 0x0778) || routed) return d;
    if (ver == 1 && (csum || (flags & 0x0800) || !keyed || ptype != 0x880B)) return d;
    if (h > c) return d;
    d.hdr = h;
    if (ver == 1) { /* PPTP */
        d.encap = ENC_PPTP;
        d.link = 9;
        d.ident = g16(g, o + 6);
        d.res = g16(g, o + 4) != 0 ? R_INNER : R_NONE;
        return d;
    }
    d.ident = keyed ? g32(g, o + 4 + (csum ? 4 : 0)) : -1;
    long long e = o + h, word = g32(g, e), session = word & 0x3FF;
    if (ptype == 0x0800 || ptype == 0x86DD || ptype == 0x6558) {
        d.link = ptype == 0x6558 ? 1 : 101;
        d.res = R_INNER;
    } else if (ptype == 0x88BE && !seqd) {
        d.encap = ENC_ERSPAN1;
        d.link = 1;
        d.ident = -1;
        d.res = R_INNER;
    } else if (ptype == 0x88BE) {
        d.encap = ENC_ERSPAN2;
        d.link = 1;
        d.hdr = h + 8;
        d.ident = d.key = session;
        d.res = h + 8 <= c && (word >> 28) == 1 ? R_INNER : R_MALFORMED;
    } else if (ptype == 0x22EB) {
        long long h3 = h + 12 + ((g8(g, e + 11) & 1) ? 8 : 0), frame = (g16(g, e + 10) >> 10) & 0x1F;
        d.encap = ENC_ERSPAN3;
        d.hdr = h3;
        d.ident = d.key = session;
        d.link = frame == 0 ? 1 : (frame == 2 ? 101 : 0);
        if (!(h + 12 <= c && (word >> 28) == 2 && h3 <= c)) d.res = R_MALFORMED;
        else d.res = d.link ? R_INNER : R_NON_IP;
    } else if (ptype == 0x8847 || ptype == 0x8848) {
        long long after = e;
        int what = mpls_stack(g, e, o + c, &after);
        if (what < 0) return d;
        d.link = what == 1 ? 1 : ((what == 4 || what == 6) ? 101 : 0);
        d.hdr = after - o + (what == 1 ? 4 : 0);
        d.res = d.link ? R_INNER : R_NON_IP;
    } else {
        d.res = R_NON_IP;
    }
    return d;
}

static decap_t decap_one(const gb_t *g, long long kind, long long o, long long c, long long w) {
    decap_t d = {R_MALFORMED, 0, 0, -1, 0, kind};
    long long b0 = g8(g, o), b1 = g8(g, o + 1), b7 = g8(g, o + 7), vni = g32(g, o + 4) >> 8, h;
    switch (kind) {
    case ENC_VXLAN:
        if (c < 8 + 14 || !(b0 & 0x08) || b7 != 0) return d;
        d.res = R_INNER, d.link = 1, d.hdr = 8, d.ident = d.key = vni;
        return d;
    case ENC_GENEVE: {
        h = 8 + (b0 & 0x3F) * 4;
        if (c < 8 || (b0 >> 6) != 0 || (b1 & 0x3F) != 0 || b7 != 0 || h > c) return d;
        long long ptype = g16(g, o + 2);
        d.link = ptype == 0x6558 ? 1 : ((ptype == 0x0800 || ptype == 0x86DD) ? 101 : 0);
        d.res = d.link ? R_INNER : R_NON_IP, d.hdr = h, d.ident = d.key = vni;
        return d;
    }
    case ENC_GTPU: {
        h = (b0 & 7) ? 12 : 8;
        if (c < 8 || (b0 >> 5) != 1 || !(b0 & 0x10) || h > c) return d;
        long long next = (b0 & 4) ? g8(g, o + 11) : 0;
        for (int k = 0; k < GTPU_MAX_EXT && next; k++) {
            long long size = g8(g, o + h) * 4;
            if (size == 0 || h + size > c) return d;
            next = g8(g, o + h + size - 1);
            h += size;
        }
        if (next) return d;
        d.res = b1 == 0xFF ? R_INNER : R_NONE, d.link = 101, d.hdr = h, d.ident = g32(g, o + 4);
        return d;
    }
    case ENC_CAPWAP: {
        if (c < 8 || (b0 >> 4) != 0) return d;
        if ((b0 & 0x0F) == 1) { /* DTLS */
            d.res = R_NONE;
            return d;
        }
        if ((b0 & 0x0F) != 0) return d;
        long long word = g32(g, o) & 0xFFFFFF;
        h = (word >> 19) * 4;
        if (h < 8 || h > c) return d;
        if ((word >> 7) & 1) {
            d.res = R_FRAGMENT;
            return d;
        }
        if ((word >> 3) & 1) { /* keep-alive */
            d.res = R_NONE;
            return d;
        }
        long long fc0 = g8(g, o + h), fc1 = g8(g, o + h + 1);
        int swapped = (fc0 & 3) != 0 && (fc1 & 3) == 0;
        if (((word >> 8) & 1) == 0) d.link = 1;
        else if (((word >> 9) & 0x1F) == 1) d.link = swapped ? LINK_DOT11_SWAPPED : 105;
        d.res = d.link ? R_INNER : R_NON_IP, d.hdr = h;
        return d;
    }
    case ENC_TEREDO: {
        long long pos = o;
        if (c >= 4 && g16(g, pos) == 0x0001) pos += 4 + g8(g, pos + 2) + g8(g, pos + 3) + 9;
        if (pos + 8 <= o + c && g16(g, pos) == 0) pos += 8;
        h = pos - o;
        if (c - h >= 40 && (g8(g, pos) >> 4) == 6 && w - h == 40 + g16(g, pos + 4))
            d.res = R_INNER, d.link = 101, d.hdr = h;
        return d;
    }
    case ENC_GRE:
        return decap_gre(g, o, c);
    case ENC_IPIP:
    case ENC_IP6:
        d.res = R_INNER, d.link = 101;
        return d;
    default:
        return d;
    }
}

PyObject *decap_batch(PyObject *self, PyObject *args) {
    PyObject *objs[12];
    Py_buffer v[12];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11]))
        return NULL;
    if (take_buffers(objs, v, 12, 5) < 0)
        return NULL;
    gb_t g = {(const unsigned char *)v[0].buf, v[0].len - 8};
    const int64_t *kind = v[1].buf, *off = v[2].buf, *cap = v[3].buf, *wire = v[4].buf;
    int64_t *o_link = v[5].buf, *o_off = v[6].buf, *o_cap = v[7].buf, *o_wire = v[8].buf;
    int64_t *o_encap = v[9].buf, *o_ident = v[10].buf, *o_key = v[11].buf;
    Py_ssize_t n = v[1].len / (Py_ssize_t)sizeof(int64_t);
    long long counts[5] = {0, 0, 0, 0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        decap_t d = decap_one(&g, kind[i], off[i], cap[i], wire[i]);
        int inner = d.res == R_INNER;
        counts[d.res]++;
        o_link[i] = inner ? d.link : 0;
        o_off[i] = inner ? off[i] + d.hdr : 0;
        o_cap[i] = inner ? cap[i] - d.hdr : 0;
        o_wire[i] = inner ? wire[i] - d.hdr : 0;
        o_encap[i] = inner ? d.encap : kind[i];
        o_ident[i] = inner ? d.ident : -1;
        o_key[i] = inner ? d.key : 0;
    }
    release_buffers(v, 12);
    return Py_BuildValue("LLL", counts[R_MALFORMED], counts[R_NON_IP], counts[R_FRAGMENT]);
}

