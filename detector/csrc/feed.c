/* The feeder: which packets of a batch go to the dissectors and in what rounds (twin:
   dissect/feeder.py), and fresh_copy (twin: facts.py_new_facts). */

#include "fast.h"

/* rank_within(slots, rows, out) -> None

   dissect/feeder.py's _rank_within_numpy compiled (the twin; tests/test_feeder_twins.py
   compares them): out[i] = how many packets before i have slot slots[i] - a packet's
   place among its flow's, capture order kept - with one counter per table row (slots
   in [0, rows), else ValueError). The numpy twin's stable argsort and its gathers and
   scatters were ~1 % of a scan of the generated bench input (callgrind); this is two
   passes. The counters are kept from call to call and left at zero by each (it clears
   the ones it used): a static is safe, the GIL is held throughout and no Python code
   runs. */
static int64_t *rw_count = NULL;
static Py_ssize_t rw_cap = 0;

PyObject *rank_within(PyObject *self, PyObject *args) {
    PyObject *slots_obj, *out_obj;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "OnO", &slots_obj, &rows, &out_obj))
        return NULL;
    PyObject *objs[2] = {slots_obj, out_obj};
    Py_buffer v[2];
    if (take_buffers(objs, v, 2, 1) < 0)
        return NULL;
    const int64_t *slots = v[0].buf;
    int64_t *out = v[1].buf;
    Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(int64_t);
    const char *why = NULL;
    if (v[1].len < n * (Py_ssize_t)sizeof(int64_t) || rows < 0) {
        why = "rank_within: out shorter than slots, or rows < 0";
    } else if (rows > rw_cap) {
        free(rw_count);
        rw_cap = 0;
        rw_count = calloc((size_t)rows, sizeof(int64_t));
        if (!rw_count) {
            release_buffers(v, 2);
            return PyErr_NoMemory();
        }
        rw_cap = rows;
    }
    Py_ssize_t i = 0;
    for (; i < n && !why; i++) {
        int64_t s = slots[i];
        if ((uint64_t)s >= (uint64_t)rows) {
            why = "rank_within: a slot outside [0, rows)";
            break;
        }
        out[i] = rw_count[s]++;
    }
    for (Py_ssize_t j = 0; j < i; j++) rw_count[slots[j]] = 0; /* the ones used */
    release_buffers(v, 2);
    if (why) {
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* round_pick(cand, rank, lo, hi, inspect, pkt_slot, src_first, out) -> count

   dissect/feeder.py's _round_numpy compiled (the twin; tests/test_feeder_twins.py
   compares them): the packets cand[j] whose rank[j] is in [lo, hi), in their order,
   written to out; with ``inspect`` (not None) only those whose side's bit (1: side A,
   2: side B) is still set in their flow's byte (pkt_slot: the packets' slots, all in
   the table). One pass per round where numpy made up to ten over the candidates (two
   comparisons, an and, a boolean selection, then gathers of the selected: ~0.4 % of a
   scan of the generated bench input, callgrind). */
PyObject *round_pick(PyObject *self, PyObject *args) {
    PyObject *cand_obj, *rank_obj, *insp_obj, *slot_obj, *sf_obj, *out_obj;
    long long lo, hi;
    if (!PyArg_ParseTuple(args, "OOLLOOOO", &cand_obj, &rank_obj, &lo, &hi, &insp_obj,
                          &slot_obj, &sf_obj, &out_obj))
        return NULL;
    PyObject *objs[6] = {cand_obj, rank_obj, slot_obj, sf_obj, insp_obj, out_obj};
    int check = insp_obj != Py_None;
    Py_buffer v[6];
    if (!check) objs[4] = slot_obj; /* a placeholder, not read */
    if (take_buffers(objs, v, 6, 5) < 0)
        return NULL;
    const int64_t *cand = v[0].buf, *rank = v[1].buf, *pkt_slot = v[2].buf;
    const uint8_t *src_first = v[3].buf, *inspect = v[4].buf;
    int64_t *out = v[5].buf;
    const Py_ssize_t w = (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t m = v[0].len / w, npk = v[2].len / w, rows = v[4].len, count = 0;
    int bad = v[1].len < m * w || v[5].len < m * w || v[3].len < npk;
    for (Py_ssize_t j = 0; j < m && !bad; j++) {
        int64_t r = rank[j];
        if (r < lo || r >= hi) continue;
        int64_t i = cand[j];
        if (check) {
            if ((uint64_t)i >= (uint64_t)npk) { bad = 1; break; }
            int64_t s = pkt_slot[i];
            if ((uint64_t)s >= (uint64_t)rows) { bad = 1; break; }
            if (!(inspect[s] & (src_first[i] ? 1 : 2))) continue;
        }
        out[count++] = i;
    }
    release_buffers(v, 6);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "round_pick: a packet or slot out of range, or a short column");
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

/* inspect_triage's claim (dissect/feeder.py's _claim_first_py is its twin): ``ct_no_taker``
   is dissect/unclaimed.py's no_taker, ``quiet`` its 256-byte quiet_first_bytes table (0,
   1, or 2: quiet if ct_no_opening) and ``signatures`` its signature_table (256 rows of
   CT_SIG_WIDTH bytes: a length, then the bytes). */
#define CT_SIG_WIDTH 32 /* unclaimed.SIGNATURE_WIDTH */
static inline int ct_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == 0x0c;
}

/* unclaimed._no_opening: StartTls's probe says NO to the n >= 4 bytes at d, which start
   with a letter or '.' - at least 16 of them (_LONGEST_OPENING), no space in the first
   17, no newline in the first 10, no second byte 0x16. */
static int ct_no_opening(const unsigned char *d, Py_ssize_t n) {
    return n >= 16 && !memchr(d, ' ', (size_t)(n < 17 ? n : 17)) && !memchr(d, '\n', 10) &&
           d[1] != 0x16;
}

static int ct_no_taker(const unsigned char *d, Py_ssize_t n, const uint8_t *quiet,
                       const uint8_t *signatures, long long budget) {
    if (n > budget) n = (Py_ssize_t)budget;
    if (n < 4 || !quiet[d[0]] || d[2] == 4) return 0;
    if (quiet[d[0]] == 2 && !ct_no_opening(d, n)) return 0; /* StartTls looks too */
    const uint8_t *sig = signatures + (size_t)d[0] * CT_SIG_WIDTH;
    if (sig[0]) { /* not if the bytes start like the signature (as far as either goes) */
        Py_ssize_t m = n < sig[0] ? n : sig[0];
        if (!memcmp(d, sig + 1, (size_t)m)) return 0;
    }
    Py_ssize_t w = n < 4096 ? n : 4096; /* jsonlines.PROBE_WINDOW */
    const unsigned char *nl = memchr(d, '\n', (size_t)w);
    if (!nl) return !memchr(d, '"', (size_t)w) || n >= 4096;
    Py_ssize_t e = nl - d;
    while (e > 0 && ct_space(d[e - 1])) e--;
    return !(e > 0 && (d[e - 1] == '}' || d[e - 1] == ']'));
}

/* What the claim reads, apart from the packet: kept out of inspect_triage's loop, whose
   hot path - a packet without payload or of a side not inspected - must not pay for it
   (with the claim written inline the loop cost ~1.7 M instructions more on the generated
   bench input, callgrind). */
typedef struct {
    const int64_t *poff, *plen, *pcap, *seq, *sport, *dport;
    const uint32_t *isn_a, *isn_b;
    const uint8_t *state, *quiet, *signatures, *buf;
    Py_ssize_t size;
    long long budget;
} ct_claim_cols;

/* Whether inspect_triage claims TCP packet i of the untouched flow s, of the side ``bit``. */
static __attribute__((noinline)) int ct_claims(const ct_claim_cols *c, int64_t i, int64_t s,
                                                uint8_t bit) {
    int64_t isn = bit == 1 ? c->isn_a[s] : c->isn_b[s];
    int64_t off = c->poff[i], len = c->plen[i];
    return (!(c->state[s] & (bit == 1 ? ST_SYN_A : ST_SYN_B)) || c->seq[i] == isn) &&
           c->pcap[i] == len && c->sport[i] != 53 && c->dport[i] != 53 && off >= 0 &&
           off + len <= c->size &&
           ct_no_taker(c->buf + off, (Py_ssize_t)len, c->quiet, c->signatures, c->budget);
}

/* inspect_triage(pkt_slot, src_first, payload_len, proto, sport, dport, dns_ports, buf,
                  payload_off, payload_cap, seq, isn_a, isn_b, state, quiet, signatures,
                  inspect, touched, idx_out, slot_out, dns_out, quic_v2, quic_min, budget)
     -> (count, dns_count)

   dissect/feeder.py's _candidates_numpy compiled (the twin: dissect/triage.py's triage of
   _wanted_numpy's packets, then _claim_first_py; tests/test_feeder_twins.py and
   tests/test_unclaimed.py compare them): which packets of a batch go to the dissectors,
   in capture order. Wanted are those with a flow slot and payload whose side's bit (1:
   side A, 2: side B) is set in the flow's ``inspect`` byte; of them every non-UDP one
   goes on (idx_out, with its slot in slot_out), a UDP one with either port marked in the
   65,536-byte ``dns_ports`` table only when it is a response with answers (dns_out: the
   fast DNS path), any other UDP one only when it has a datagram dissector's shape
   (discv4, Nano, a client's QUIC Initial of at least ``quic_min`` bytes, version 1 or
   ``quic_v2``: triage._datagram_candidate). Bytes are read at offsets clipped to
   [0, len(buf) - 8], as triage's numpy gathers read them (the caller sees to len(buf) >=
   8). One pass over the batch where numpy made some twenty over the wanted packets (a
   dozen clipped gathers of the UDP ones, then two masks and a gather of the slots): ~5 %
   of the generated bench's instructions went to the feeder's numpy.

   The claim (dissect/unclaimed.py): a TCP packet of a flow no candidate of which went on
   yet (``touched`` clear) that no stream dissector would take - whole (payload_cap ==
   payload_len), in order at the start of its side's stream (SYN unseen, or seq == isn),
   off port 53, ``ct_no_taker`` - does not go on: its side's inspect bit is cleared (its
   later packets are not wanted). Every packet that goes on to idx_out marks its flow
   ``touched``, as the first feeding round would. (Done here rather than in a pass of its
   own over the candidates: that pass cost ~13 M instructions on the generated bench
   input, where the bulk flows' candidates are many and none is claimed.) */
static inline unsigned it_byte(const unsigned char *b, Py_ssize_t last, int64_t i) {
    return b[i < 0 ? 0 : (i > last ? last : i)];
}

PyObject *inspect_triage(PyObject *self, PyObject *args) {
    PyObject *objs[21];
    Py_buffer v[21];
    unsigned long quic_v2;
    long long quic_min, budget;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOOOkLL", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15],
                          &objs[16], &objs[17], &objs[18], &objs[19], &objs[20], &quic_v2,
                          &quic_min, &budget))
        return NULL;
    if (take_buffers(objs, v, 21, 16) < 0)
        return NULL;
    const uint8_t *src_first = v[1].buf, *proto = v[3].buf, *dns_ports = v[6].buf,
                  *buf = v[7].buf;
    const int64_t *pkt_slot = v[0].buf, *plen = v[2].buf, *sport = v[4].buf, *dport = v[5].buf,
                  *poff = v[8].buf, *pcap = v[9].buf;
    uint8_t *inspect = v[16].buf, *touched = v[17].buf;
    int64_t *idx = v[18].buf, *slot_out = v[19].buf, *dns_out = v[20].buf;
    const Py_ssize_t w = (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t rows = v[16].len, n = v[0].len / w, count = 0, ndns = 0;
    Py_ssize_t last = v[7].len - 8;
    const ct_claim_cols claim = {poff, plen, pcap, v[10].buf, sport, dport, v[11].buf, v[12].buf,
                                 v[13].buf, v[14].buf, v[15].buf, buf, v[7].len, budget};
    int bad = v[1].len < n || v[2].len < n * w || v[3].len < n || v[4].len < n * w ||
              v[5].len < n * w || v[6].len < 65536 || last < 0 || v[8].len < n * w ||
              v[9].len < n * w || v[10].len < n * w || v[11].len < rows * 4 ||
              v[12].len < rows * 4 || v[13].len < rows || v[14].len < 256 ||
              v[15].len < 256 * CT_SIG_WIDTH || v[17].len < rows || v[18].len < n * w ||
              v[19].len < n * w || v[20].len < n * w;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int64_t s = pkt_slot[i];
        if (s < 0 || plen[i] <= 0) continue;
        if (s >= rows) {
            bad = 1;
            break;
        }
        uint8_t bit = src_first[i] ? 1 : 2;
        if (!(inspect[s] & bit)) continue;
        if (proto[i] == 17) {
            int64_t sp = sport[i], dp = dport[i], off = poff[i], cap = pcap[i];
            int dns = ((uint64_t)sp < 65536 && dns_ports[sp]) || ((uint64_t)dp < 65536 && dns_ports[dp]);
            if (dns) { /* a response (QR) with answers */
                unsigned ancount = (it_byte(buf, last, off + 6) << 8) | it_byte(buf, last, off + 7);
                if (cap >= 12 && (it_byte(buf, last, off + 2) & 0x80) && ancount > 0)
                    dns_out[ndns++] = i;
                continue;
            }
            unsigned b0 = it_byte(buf, last, off), b1 = it_byte(buf, last, off + 1);
            unsigned b97 = it_byte(buf, last, off + 97), b98 = it_byte(buf, last, off + 98);
            int keep = (cap >= 100 && b97 >= 1 && b97 <= 6 && b98 >= 0xC0) || /* discv4 */
                       (cap >= 8 && b0 == 'R' &&
                        (b1 == 'A' || b1 == 'B' || b1 == 'C' || b1 == 'X')); /* Nano */
            if (!keep && (b0 & 0xC0) == 0xC0 && cap >= quic_min) { /* a QUIC Initial */
                uint32_t version = ((uint32_t)b1 << 24) | (it_byte(buf, last, off + 2) << 16) |
                                   (it_byte(buf, last, off + 3) << 8) | it_byte(buf, last, off + 4);
                unsigned kind = (b0 >> 4) & 3;
                keep = (version == 1 && kind == 0) || (version == (uint32_t)quic_v2 && kind == 1);
            }
            if (!keep) continue;
        } else if (!touched[s] && proto[i] == 6 && ct_claims(&claim, i, s, bit)) {
            inspect[s] &= (uint8_t)~bit; /* the claim (see above) */
            continue;
        }
        touched[s] = 1;
        idx[count] = i;
        slot_out[count] = s;
        count++;
    }
    release_buffers(v, 21);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "inspect_triage: a slot outside the table or a short column");
        return NULL;
    }
    return Py_BuildValue("nn", count, ndns);
}

/* inspect_cols(idx, pkt_slot, src_first, proto, seq, payload_off, payload_cap,
                payload_len, sport, dport, ts, isn_a, isn_b, state, touched, out, ts_out)
     -> None

   dissect/feeder.py's _round_cols_numpy compiled (the twin; tests/test_feeder_twins.py
   compares them): the columns feed_packets takes for a round's packets ``idx`` - per
   packet its slot, side (0: A), TCP or not, seq, where its side's stream starts (the
   side's isn where its SYN was seen, else -1), payload begin and end in the buffer,
   payload length and ports (the ten rows of the int64 ``out``), and its time (ts_out);
   each packet's flow is marked ``touched``. One pass where numpy made ~14 gathers and
   a few where's of the round's packets. */
PyObject *inspect_cols(PyObject *self, PyObject *args) {
    PyObject *objs[17];
    Py_buffer v[17];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15],
                          &objs[16]))
        return NULL;
    if (take_buffers(objs, v, 17, 14) < 0)
        return NULL;
    const int64_t *idx = v[0].buf, *pkt_slot = v[1].buf, *seq = v[4].buf, *poff = v[5].buf,
                  *pcap = v[6].buf, *plen = v[7].buf, *sport = v[8].buf, *dport = v[9].buf;
    const uint8_t *src_first = v[2].buf, *proto = v[3].buf, *state = v[13].buf;
    const double *ts = v[10].buf;
    const uint32_t *isn_a = v[11].buf, *isn_b = v[12].buf;
    uint8_t *touched = v[14].buf;
    int64_t *out = v[15].buf;
    double *ts_out = v[16].buf;
    Py_ssize_t m = v[0].len / 8, n = v[1].len / 8, rows = v[13].len;
    int bad = v[2].len < n || v[3].len < n || v[4].len / 8 < n || v[5].len / 8 < n ||
              v[6].len / 8 < n || v[7].len / 8 < n || v[8].len / 8 < n || v[9].len / 8 < n ||
              v[10].len / 8 < n || v[11].len / 4 < rows || v[12].len / 4 < rows ||
              v[14].len < rows || v[15].len / 8 < 10 * m || v[16].len / 8 < m;
    int64_t *o_slot = out, *o_side = out + m, *o_tcp = out + 2 * m, *o_seq = out + 3 * m,
            *o_isn = out + 4 * m, *o_begin = out + 5 * m, *o_end = out + 6 * m,
            *o_plen = out + 7 * m, *o_sport = out + 8 * m, *o_dport = out + 9 * m;
    for (Py_ssize_t k = 0; k < m && !bad; k++) {
        int64_t i = idx[k];
        if (i < 0 || i >= n) {
            bad = 1;
            break;
        }
        int64_t s = pkt_slot[i];
        if (s < 0 || s >= rows) {
            bad = 1;
            break;
        }
        touched[s] = 1;
        int a = src_first[i] != 0;
        o_slot[k] = s;
        o_side[k] = !a;
        o_tcp[k] = proto[i] == 6;
        o_seq[k] = seq[i];
        o_isn[k] = (state[s] & (a ? ST_SYN_A : ST_SYN_B)) ? (int64_t)(a ? isn_a[s] : isn_b[s]) : -1;
        o_begin[k] = poff[i];
        o_end[k] = poff[i] + pcap[i];
        o_plen[k] = plen[i];
        o_sport[k] = sport[i];
        o_dport[k] = dport[i];
        ts_out[k] = ts[i];
    }
    release_buffers(v, 17);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "inspect_cols: a packet or slot out of range, or a short column");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* feed_packets(cols, inspect, buf, tcp_packet, udp_packet, retire, cut_short) -> int

   dissect/feeder.py's _feed_rows compiled (that is the definition;
   tests/test_feeder_twins.py compares them): hand a round's packets to the Inspector one by one. ``cols`` holds, per
   packet, int64 slot, side (0/1), TCP (0/1), seq, isn (-1: none), payload begin and end in
   ``buf``, payload length, sport, dport, and float64 time. A packet whose flow side no
   longer wants payload (its bit in the uint8 ``inspect`` column, which the answers update
   as the loop goes) is skipped before any Python object is made for it - a third of the
   packets of a round on real traffic; the others are passed to ``tcp_packet`` or
   ``udp_packet`` as the Python loop passes them. An answer keeps only the bits still set
   (a side inspect_triage claimed is not done in the Inspector). Returns how
   many flows the Inspector cut short (``cut_short``, emptied) while the loop ran. */
PyObject *feed_packets(PyObject *self, PyObject *args) {
    PyObject *cols, *inspect_obj, *buf_obj, *tcp_fn, *udp_fn, *retire_fn, *cut_short;
    if (!PyArg_ParseTuple(args, "O!OOOOOO!", &PyTuple_Type, &cols, &inspect_obj, &buf_obj,
                          &tcp_fn, &udp_fn, &retire_fn, &PyList_Type, &cut_short))
        return NULL;
    if (PyTuple_GET_SIZE(cols) != 11) {
        PyErr_SetString(PyExc_TypeError, "feed_packets: 11 columns");
        return NULL;
    }
    Py_buffer v[11], iv, bv;
    Py_ssize_t n = -1;
    for (int k = 0; k < 11; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(cols, k), &v[k], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            release_buffers(v, k);
            return NULL;
        }
        const char *f = v[k].format;
        int ok = v[k].itemsize == 8 && f &&
                 (k < 10 ? (!strcmp(f, "l") || !strcmp(f, "q")) : !strcmp(f, "d"));
        if (ok && n < 0) n = v[k].len / 8;
        if (!ok || v[k].len / 8 != n) {
            release_buffers(v, k + 1);
            PyErr_SetString(PyExc_TypeError, "feed_packets: int64 columns and float64 times, one length");
            return NULL;
        }
    }
    if (PyObject_GetBuffer(inspect_obj, &iv, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        release_buffers(v, 11);
        return NULL;
    }
    if (iv.itemsize != 1 || !iv.format || strcmp(iv.format, "B")) {
        PyBuffer_Release(&iv);
        release_buffers(v, 11);
        PyErr_SetString(PyExc_TypeError, "feed_packets: a uint8 inspect column");
        return NULL;
    }
    if (PyObject_GetBuffer(buf_obj, &bv, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&iv);
        release_buffers(v, 11);
        return NULL;
    }
    const int64_t *slot = v[0].buf, *side = v[1].buf, *tcp = v[2].buf, *seq = v[3].buf,
                  *isn = v[4].buf, *begin = v[5].buf, *end = v[6].buf, *plen = v[7].buf,
                  *sport = v[8].buf, *dport = v[9].buf;
    const double *ts = v[10].buf;
    unsigned char *inspect = iv.buf;
    const char *buf = bv.buf;
    Py_ssize_t rows = iv.len, cut = 0, failed = 0;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        Py_ssize_t s = (Py_ssize_t)slot[i];
        if (s < 0) s += rows;  /* as a memoryview index */
        if (s < 0 || s >= rows) {
            PyErr_SetString(PyExc_IndexError, "index out of bounds on dimension 1");
            failed = 1;
            break;
        }
        unsigned char held = inspect[s];
        if (!(held & (side[i] + 1)))
            continue;
        Py_ssize_t b = (Py_ssize_t)begin[i], e = (Py_ssize_t)end[i];
        Py_ssize_t len = PySlice_AdjustIndices(bv.len, &b, &e, 1);
        PyObject *argv[10] = {NULL};
        Py_ssize_t nargs;
        argv[1] = PyLong_FromLongLong(slot[i]);
        argv[2] = PyLong_FromLongLong(side[i]);
        if (tcp[i]) {
            argv[3] = PyLong_FromLongLong(seq[i]);
            if (isn[i] >= 0) {
                argv[4] = PyLong_FromLongLong(isn[i]);
            } else {
                argv[4] = Py_None;
                Py_INCREF(Py_None);
            }
            argv[5] = PyBytes_FromStringAndSize(buf + b, len);
            argv[6] = PyLong_FromLongLong(plen[i]);
            argv[7] = PyFloat_FromDouble(ts[i]);
            argv[8] = PyLong_FromLongLong(sport[i]);
            argv[9] = PyLong_FromLongLong(dport[i]);
            nargs = 9;
        } else {
            argv[3] = PyBytes_FromStringAndSize(buf + b, len);
            argv[4] = PyFloat_FromDouble(ts[i]);
            argv[5] = PyLong_FromLongLong(sport[i]);
            argv[6] = PyLong_FromLongLong(dport[i]);
            nargs = 6;
        }
        PyObject *keep = NULL;
        int made = 1;
        for (Py_ssize_t k = 1; k <= nargs; k++)
            if (!argv[k]) made = 0;
        if (made)
            keep = PyObject_Vectorcall(tcp[i] ? tcp_fn : udp_fn, argv + 1,
                                       (size_t)nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        for (Py_ssize_t k = 1; k <= nargs; k++)
            Py_XDECREF(argv[k]);
        if (!keep) {
            failed = 1;
            break;
        }
        long kept = PyLong_AsLong(keep);
        Py_DECREF(keep);
        if (kept == -1 && PyErr_Occurred()) {
            failed = 1;
            break;
        }
        if (kept < 0 || kept > 255) {
            PyErr_SetString(PyExc_ValueError, "memoryview: invalid value for format 'B'");
            failed = 1;
            break;
        }
        kept &= held;
        inspect[s] = (unsigned char)kept;
        if (!kept) {
            PyObject *slot_obj = PyLong_FromLongLong(slot[i]);
            PyObject *r = slot_obj ? PyObject_CallOneArg(retire_fn, slot_obj) : NULL;
            Py_XDECREF(slot_obj);
            if (!r) {
                failed = 1;
                break;
            }
            Py_DECREF(r);
        }
        Py_ssize_t many = PyList_GET_SIZE(cut_short);
        if (many) {  /* flows retired to make room: no more payload for them */
            for (Py_ssize_t k = 0; k < many && !failed; k++) {
                Py_ssize_t r = PyLong_AsSsize_t(PyList_GET_ITEM(cut_short, k));
                if (r == -1 && PyErr_Occurred()) {
                    failed = 1;
                    break;
                }
                if (r < 0) r += rows;
                if (r < 0 || r >= rows) {
                    PyErr_SetString(PyExc_IndexError, "index out of bounds on dimension 1");
                    failed = 1;
                    break;
                }
                inspect[r] = 0;
            }
            if (failed) break;
            cut += many;
            if (PyList_SetSlice(cut_short, 0, many, NULL) < 0) failed = 1;
        }
    }
    PyBuffer_Release(&bv);
    PyBuffer_Release(&iv);
    release_buffers(v, 11);
    if (failed) return NULL;
    return PyLong_FromSsize_t(cut);
}

/* fresh_copy(proto): a new instance of proto's class - a class of __slots__ alone, on
 * object - whose every slot holds what proto's does, except that each empty dict, list
 * or set is a new empty one of its own. facts.new_facts makes every flow's facts from
 * a prototype this way: one allocation and a pass over 43 slots instead of 43 attribute
 * stores (~10,000 instructions a flow's facts in Python, callgrind). Pure twin:
 * facts.py_new_facts, the field-by-field maker (tests/test_new_facts.py). */
PyObject *fresh_copy(PyObject *self, PyObject *proto) {
    (void)self;
    PyTypeObject *tp = Py_TYPE(proto);
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) || tp->tp_base != &PyBaseObject_Type ||
        tp->tp_dictoffset != 0 || tp->tp_members == NULL) {
        PyErr_SetString(PyExc_TypeError, "fresh_copy: an instance of a __slots__ class on object");
        return NULL;
    }
    PyObject *obj = tp->tp_alloc(tp, 0);
    if (obj == NULL) return NULL;
    for (PyMemberDef *m = tp->tp_members; m->name != NULL; m++) {
        if (m->type != T_OBJECT_EX || (m->flags & READONLY)) continue;  /* (no others here) */
        PyObject *value = *(PyObject **)((char *)proto + m->offset);
        if (value == NULL) continue;  /* an unset slot stays unset */
        if (PyDict_CheckExact(value) && PyDict_GET_SIZE(value) == 0) {
            value = PyDict_New();
        } else if (PyList_CheckExact(value) && PyList_GET_SIZE(value) == 0) {
            value = PyList_New(0);
        } else if (PySet_CheckExact(value) && PySet_GET_SIZE(value) == 0) {
            value = PySet_New(NULL);
        } else {
            Py_INCREF(value);
        }
        if (value == NULL) {
            Py_DECREF(obj);
            return NULL;
        }
        *(PyObject **)((char *)obj + m->offset) = value;
    }
    return obj;
}

