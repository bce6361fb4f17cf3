/* The flow stage (twins: the numpy code of flows.py, flowtable.py and fanout.py). */

#include "fast.h"

/* Read-only arguments that may be None: bufs[k] is objs[k]'s data, NULL for None. On
   failure nothing stays taken. release_optional gives back those taken. */
static int take_optional(PyObject **objs, Py_buffer *v, const void **bufs, int n) {
    for (int k = 0; k < n; k++) {
        bufs[k] = NULL;
        if (objs[k] == Py_None)
            continue;
        if (PyObject_GetBuffer(objs[k], &v[k], PyBUF_SIMPLE) < 0) {
            for (int j = 0; j < k; j++)
                if (bufs[j]) PyBuffer_Release(&v[j]);
            return -1;
        }
        bufs[k] = v[k].buf;
    }
    return 0;
}

static void release_optional(Py_buffer *v, const void **bufs, int n) {
    for (int k = 0; k < n; k++)
        if (bufs[k]) PyBuffer_Release(&v[k]);
}
/* ------------------------------------------------------------------ flow stage */
/* The per-packet halves of flows.FlowTracker.process, with the numpy code there as their
   twin (tests compare every output):
     flow_group  - canonical side and 64-bit key of each packet, and its group (a key's
                   packets up to a gap longer than the key's idle timeout, or than the
                   close timeout once they closed the flow: a segment)
                   numbered in ascending (key, segment) order, with each group's first
                   packet, first pure SYN and first SYN-ACK (n where there is none) and
                   whether it starts after such a gap;
     flow_update - add each packet to its flow's row: counters, flags, last time, FIN/RST
                   state and, for SYNs, where the side's byte stream starts;
     flow_behaviour - the behaviour state of TCP flows (messages, pushes, answers).
   Grouping uses a hash of the batch's keys (linear time) and sorts only the groups. */

static inline uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

typedef struct {
    uint64_t key;
    int64_t id;
} grp_sort_t;

/* The groups by key, a key's segments in the order they came: a stable LSD radix sort on
   the key (a byte a pass; a pass whose byte is the same for all is skipped) of groups made
   in id order, so that equal keys keep ascending ids - the order (key, id) that qsort with
   a comparator gave, in about half its instructions (qsort was ~0.5 % of a scan of the
   generated bench input, callgrind). tmp: room for n groups. Returns the sorted array:
   a or tmp. */
static grp_sort_t *grp_sort(grp_sort_t *a, grp_sort_t *tmp, Py_ssize_t n) {
    Py_ssize_t count[8][256];
    memset(count, 0, sizeof count);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t k = a[i].key;
        for (int b = 0; b < 8; b++) count[b][(k >> (8 * b)) & 0xFF]++;
    }
    grp_sort_t *src = a, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        Py_ssize_t *c = count[b];
        if (n == 0 || c[(src[0].key >> (8 * b)) & 0xFF] == n) continue;
        Py_ssize_t at = 0;
        for (int d = 0; d < 256; d++) {
            Py_ssize_t m = c[d];
            c[d] = at;
            at += m;
        }
        for (Py_ssize_t i = 0; i < n; i++) dst[c[(src[i].key >> (8 * b)) & 0xFF]++] = src[i];
        grp_sort_t *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

/* flow_group's hash table (hash slot -> group id, -1 empty), kept from call to call and
   left empty by each: it clears the slots its groups took (a few thousand a batch) where a
   fresh table had to be filled with -1 first, 4 bytes for each of at least twice the
   batch's packets (that memset was ~0.3 % of a scan's instructions, callgrind, generated
   bench input), and faulted in again whenever glibc gave the block back to the system. A
   static is safe: flow_group holds the GIL throughout and calls no Python code. */
static int32_t *fg_table = NULL;
static size_t fg_cap = 0;

static int32_t *fg_table_for(size_t hcap) {
    if (hcap > fg_cap) {
        free(fg_table);
        fg_cap = 0;
        fg_table = malloc(hcap * sizeof(int32_t));
        if (!fg_table) return NULL;
        memset(fg_table, 0xff, hcap * sizeof(int32_t));
        fg_cap = hcap;
    }
    return fg_table;
}

enum { FG_IN = 9, FG_OUT = 9 };
/* flowtable.STATE_FIN_A, _FIN_B, _RST (flow_update's ST_* below) */
enum { ST_FIN_A_G = 2, ST_FIN_B_G = 4, ST_RST_G = 8 };

/* flow_group(src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, flags, ts, tunnel,
              tcp_timeout, udp_timeout, close_timeout, init_state, init_latest, src_first_out, keys_out,
              group_out, ukeys_out, first_pkt_out, first_syn_out, first_synack_out,
              after_gap_out, recheck_out)
   -> number of groups

   tunnel: None, or each packet's tunnel key (0: none), mixed into the key of tunneled
   packets (flows.flow_keys). A one-way ICMP message (flags 0x80 on a protocol other than
   TCP) keeps its source as side A. A packet whose time is past its segment's latest
   time (a NaN time never counts as one) plus the key's idle timeout (tcp_timeout for
   TCP, udp_timeout for the rest, as the sweep decides) starts a new segment, a group of
   its own: the flow's sweep would have ended the flow before it came. So does one past
   the latest time plus close_timeout when the segment's packets before it closed the
   flow as the sweep sees it (a RST, or a FIN from each side: the FIN/RST state bits
   flow_update sets, ST_*). init_state: None, or per packet the state bits a key's first
   segment starts from, read at the key's first packet (the table's flow it continues);
   a later segment starts from none; init_latest: None, or per packet the latest time
   a key's first segment starts from (-inf: none), read there too (the table's flow's
   last packet: times that went back across batches do not cut where the flow's
   later time would not). A pure SYN (flags SYN without ACK) once the
   segment saw a RST or a FIN from side A starts a new segment too: the port reuse of a
   closed flow (flows._reuse_closed). recheck_out: per group, 1 where a packet joined it
   with a gap past close_timeout (not past the idle one), or a pure SYN joined it (not as
   its first packet), because the segment was not closed - a state carried in from the
   table could have cut there (flows.place asks again with init_state). */
PyObject *flow_group(PyObject *self, PyObject *args) {
    PyObject *objs[FG_IN + FG_OUT], *opt_objs[3]; /* opt: tunnel, init_state, init_latest */
    Py_buffer v[FG_IN + FG_OUT], ov[3];
    const void *opt[3];
    double tcp_timeout, udp_timeout, close_timeout;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOdddOOOOOOOOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8],
                          &opt_objs[0], &tcp_timeout, &udp_timeout, &close_timeout, &opt_objs[1],
                          &opt_objs[2], &objs[9], &objs[10], &objs[11], &objs[12], &objs[13], &objs[14],
                          &objs[15], &objs[16], &objs[17]))
        return NULL;
    if (take_buffers(objs, v, FG_IN + FG_OUT, FG_IN) < 0)
        return NULL;
    if (take_optional(opt_objs, ov, opt, 3) < 0) {
        release_buffers(v, FG_IN + FG_OUT);
        return NULL;
    }
    const uint64_t *tunnel = opt[0];
    const uint8_t *init = opt[1];
    const double *init_latest = opt[2];
    const uint64_t *shi = v[0].buf, *slo = v[1].buf, *dhi = v[2].buf, *dlo = v[3].buf;
    const int64_t *sport = v[4].buf, *dport = v[5].buf;
    const uint8_t *proto = v[6].buf, *flags = v[7].buf;
    const double *ts = v[8].buf;
    uint8_t *src_first = v[9].buf, *after_gap = v[16].buf, *recheck = v[17].buf;
    uint64_t *keys = v[10].buf, *ukeys = v[12].buf;
    int64_t *group = v[11].buf, *first_pkt = v[13].buf, *first_syn = v[14].buf,
            *first_synack = v[15].buf;
    Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(uint64_t);
    if ((init && ov[1].len < n) || (init_latest && ov[2].len < n * (Py_ssize_t)sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "init_state or init_latest shorter than the batch");
        release_buffers(v, FG_IN + FG_OUT);
        release_optional(ov, opt, 3);
        return NULL;
    }
    const uint64_t SEED = 0x9E3779B97F4A7C15ULL;
    /* the key's first step where side A's upper address half is 0 (IPv4: most packets),
       worked out once: one mix64 of the five a packet's key takes (~0.2 % of a scan) */
    const uint64_t seed_mixed = mix64(SEED);
    /* a gap up to the shorter of the two timeouts joins whatever the state (one
       comparison per packet); only a longer one looks at the idle timeout and the state */
    const double tcp_short = close_timeout < tcp_timeout ? close_timeout : tcp_timeout;
    const double udp_short = close_timeout < udp_timeout ? close_timeout : udp_timeout;

    size_t hcap = 16;
    while (hcap < (size_t)n * 2) hcap <<= 1;
    /* hash slot -> group id (first seen): 32 bits, half the table's memory (a batch holds
       tens of thousands of packets; 2^31 or more would be refused here) */
    int32_t *slot_of = n < INT32_MAX ? fg_table_for(hcap) : NULL;
    grp_sort_t *groups = malloc(((size_t)n + 1) * 2 * sizeof(grp_sort_t)); /* + grp_sort's room */
    int64_t *rank = malloc(((size_t)n + 1) * sizeof(int64_t));
    int64_t *fpkt = malloc(((size_t)n + 1) * sizeof(int64_t));
    int64_t *fsyn = malloc(((size_t)n + 1) * sizeof(int64_t));
    int64_t *fsynack = malloc(((size_t)n + 1) * sizeof(int64_t));
    double *latest = malloc(((size_t)n + 1) * sizeof(double)); /* per group: its latest time */
    /* per group: its FIN/RST state bits so far (ST_*), and the recheck mark */
    uint8_t *st = malloc(((size_t)n + 1) * 2);
    if (!slot_of || !groups || !rank || !fpkt || !fsyn || !fsynack || !latest || !st) {
        free(groups); free(rank); free(fpkt); free(fsyn); free(fsynack);
        free(latest); free(st);
        release_buffers(v, FG_IN + FG_OUT);
        release_optional(ov, opt, 3);
        return PyErr_NoMemory();
    }
    uint8_t *rchk = st + n + 1;
    Py_ssize_t ng = 0;
    /* The last host pair hashed (canonical sides) and its hash: consecutive packets
       between the same two hosts - a flow's burst, its ACKs back - skip four of the
       key's five mix64 steps. */
    uint64_t c_ahi = 0, c_alo = 0, c_bhi = 0, c_blo = 0, c_h = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int sf = shi[i] < dhi[i] ||
                 (shi[i] == dhi[i] &&
                  (slo[i] < dlo[i] || (slo[i] == dlo[i] && sport[i] <= dport[i]))) ||
                 ((flags[i] & 0x80) && proto[i] != 6);
        uint64_t ahi = sf ? shi[i] : dhi[i], alo = sf ? slo[i] : dlo[i];
        uint64_t bhi = sf ? dhi[i] : shi[i], blo = sf ? dlo[i] : slo[i];
        uint64_t ap = (uint64_t)(sf ? sport[i] : dport[i]), bp = (uint64_t)(sf ? dport[i] : sport[i]);
        uint64_t ports = (ap << 24) | (bp << 8);
        uint64_t h;
        if (i > 0 && ahi == c_ahi && alo == c_alo && bhi == c_bhi && blo == c_blo) {
            h = c_h; /* the host pair of the packet before: its addresses' hash */
        } else {
            h = ahi ? mix64(ahi ^ SEED) : seed_mixed;
            h = mix64(h ^ alo);
            h = mix64(h ^ bhi);
            h = mix64(h ^ blo);
            c_ahi = ahi, c_alo = alo, c_bhi = bhi, c_blo = blo, c_h = h;
        }
        uint64_t key = mix64(h ^ ports ^ (uint64_t)proto[i]);
        if (tunnel && tunnel[i]) key = mix64(key ^ tunnel[i]);
        src_first[i] = (uint8_t)sf;
        keys[i] = key;
        size_t pos = (size_t)(key ^ (key >> 29)) & (hcap - 1);
        int64_t g;
        double t = ts[i], lt = -INFINITY; /* the segment's latest time before this packet */
        int cut = 0;
        uint8_t f = flags[i];
        for (;;) {
            g = slot_of[pos];
            if (g >= 0 && groups[g].key == key) {
                /* the key's current segment: a gap past its idle timeout, or past the close
                   timeout once the segment closed the flow, starts the next; so does a pure
                   SYN once a RST or a FIN from side A came (_reuse_closed: port reuse) */
                lt = latest[g];
                int tcp = proto[i] == 6, syn = (f & 0x12) == 0x02;
                if (!(lt < t - (tcp ? tcp_short : udp_short))) {
                    if (!syn) break;
                    if (!(st[g] & (ST_RST_G | ST_FIN_A_G))) {
                        rchk[g] = 1;
                        break;
                    }
                } else if (!(lt < t - (tcp ? tcp_timeout : udp_timeout))) {
                    uint8_t s = st[g];
                    if (!((s & ST_RST_G) || (s & (ST_FIN_A_G | ST_FIN_B_G)) == (ST_FIN_A_G | ST_FIN_B_G)) &&
                        !(syn && (s & (ST_RST_G | ST_FIN_A_G)))) {
                        if (syn || lt < t - close_timeout) rchk[g] = 1;
                        break;
                    }
                }
                /* lt stays: a segment's latest time is its key's so far (past it at a
                   timeout's cut; at a SYN's, times that went back do not pull it back -
                   as _group_numpy's running maximum per key) */
                cut = 1;
            } else if (g >= 0) {
                pos = (pos + 1) & (hcap - 1);
                continue;
            }
            g = ng++;
            slot_of[pos] = (int32_t)g;
            rank[g] = (int64_t)pos; /* until the table is emptied, after the loop */
            groups[g].key = key;
            groups[g].id = g;
            fpkt[g] = i;
            fsyn[g] = n;
            fsynack[g] = n;
            st[g] = (init && !cut) ? (uint8_t)(init[i] & (ST_FIN_A_G | ST_FIN_B_G | ST_RST_G)) : 0;
            rchk[g] = 0;
            if (init_latest && !cut) lt = init_latest[i]; /* the table's flow's last time */
            break;
        }
        latest[g] = t > lt ? t : lt;
        group[i] = g; /* first-seen id for now */
        if (f & 0x07) { /* FIN, SYN or RST: rare, one test for the three */
            /* flow_update's FIN/RST bits: FIN 0x01 -> ST_FIN_A (2) from side A, ST_FIN_B
               (4) from side B; RST 0x04 -> ST_RST (8) */
            if (f & 0x05) st[g] |= (uint8_t)(((f & 0x04) << 1) | ((f & 0x01) << (sf ? 1 : 2)));
            if (f & 0x02) { /* SYN: also the openers of other protocols (decode.py) */
                if (!(f & 0x10)) {
                    if (fsyn[g] == n) fsyn[g] = i;
                } else if (fsynack[g] == n) fsynack[g] = i;
            }
        }
    }
    for (Py_ssize_t g = 0; g < ng; g++) slot_of[rank[g]] = -1;
    const grp_sort_t *sorted = grp_sort(groups, groups + n + 1, ng);
    for (Py_ssize_t r = 0; r < ng; r++) {
        int64_t g = sorted[r].id;
        rank[g] = r;
        ukeys[r] = sorted[r].key;
        first_pkt[r] = fpkt[g];
        first_syn[r] = fsyn[g];
        first_synack[r] = fsynack[g];
        after_gap[r] = (uint8_t)(r > 0 && sorted[r - 1].key == sorted[r].key);
        recheck[r] = rchk[g];
    }
    for (Py_ssize_t i = 0; i < n; i++) group[i] = rank[group[i]];
    free(groups); free(rank); free(fpkt); free(fsyn); free(fsynack);
    free(latest); free(st);
    release_buffers(v, FG_IN + FG_OUT);
    release_optional(ov, opt, 3);
    return PyLong_FromSsize_t(ng);
}


/* flow_behaviour(group, slots, src_first, proto, payload_len, ts, seq, client_is_a, first_ts,
                  last_ts, msg_side, msg_bytes, msg_seq, msgs_a, msgs_b, msg_sq_a, msg_sq_b,
                  first_size, first_gap, pushes, push_first, push_last, push_sq, push_hist,
                  answer_delay, req_first, req_last, req_sq, checkpoints_out) -> count

   The behaviour state of TCP flows (detector/behaviour.py states the rules; its
   update_python is the twin): messages, pushes, answers and the client's rhythm, per
   payload packet in capture order. The 9 inputs are per packet (the first two as
   flow_update's) and two read-only table columns; then 19 table columns it writes
   (first_size: 8 int16 per row, push_hist: 8 uint8 per row) - last_ts is moved on for
   every packet of a flow, as flow_update moves it, so that flow_update can do this work
   in its own loop (given the columns) with the same result - and an int64 buffer of n
   that gets the slots whose push count reached a checkpoint (1 ... 8, 12, 24 ...) or
   whose answer count reached 3, 6, 12, 24 ...; returns how many it wrote.

   Bit-exact with the twin: float32 sums are rounded after each float64 addition, and the
   squared terms are integers (bytes, whole milliseconds), so no multiply-add can fuse. */
#define BH_GAP 0.05
#define BH_MAX_SECONDS 2000000.0
#define BH_FIRST 8

static inline int64_t bh_millis(double seconds) {
    if (!(seconds > 0.0)) return 0;
    if (seconds > BH_MAX_SECONDS) seconds = BH_MAX_SECONDS;
    return (int64_t)(seconds * 1000.0);
}

static inline unsigned bh_bitlen(uint64_t x) { return x ? 64u - (unsigned)__builtin_clzll(x) : 0u; }

/* The table columns flow_behaviour reads and writes, bound from 22 buffers in its argument
   order: client_is_a, first_ts, the 19 it writes (last_ts first) and checkpoints_out. */
enum { BH_COLS = 22 };
typedef struct {
    const uint8_t *client_is_a;
    const double *first_ts;
    double *last_ts;
    uint8_t *msg_side;
    uint32_t *msg_bytes;
    uint16_t *msg_seq;
    uint32_t *msgs_a, *msgs_b;
    float *msg_sq_a, *msg_sq_b;
    int16_t *first_size;
    uint32_t *first_gap;
    uint16_t *pushes;
    float *push_first, *push_last, *push_sq;
    uint8_t *push_hist;
    float *answer_delay, *req_first, *req_last, *req_sq;
    int64_t *out;
} bh_cols;

/* Bind the columns; 0 if each holds ``rows`` rows and the checkpoints n slots, else -1. */
static int bh_bind(bh_cols *c, Py_buffer *v, Py_ssize_t rows, Py_ssize_t n) {
    static const Py_ssize_t per_row[BH_COLS] = {
        1, 8, 8, 1, 4, 2, 4, 4, 4, 4, 2 * BH_FIRST, 4, 2, 4, 4, 4, 8, 4, 4, 4, 4, 0};
    for (int k = 0; k < BH_COLS; k++)
        if (v[k].len < rows * per_row[k]) return -1;
    if (v[BH_COLS - 1].len < n * (Py_ssize_t)sizeof(int64_t)) return -1;
    c->client_is_a = v[0].buf, c->first_ts = v[1].buf, c->last_ts = v[2].buf;
    c->msg_side = v[3].buf, c->msg_bytes = v[4].buf, c->msg_seq = v[5].buf;
    c->msgs_a = v[6].buf, c->msgs_b = v[7].buf, c->msg_sq_a = v[8].buf, c->msg_sq_b = v[9].buf;
    c->first_size = v[10].buf, c->first_gap = v[11].buf, c->pushes = v[12].buf;
    c->push_first = v[13].buf, c->push_last = v[14].buf, c->push_sq = v[15].buf;
    c->push_hist = v[16].buf, c->answer_delay = v[17].buf, c->req_first = v[18].buf;
    c->req_last = v[19].buf, c->req_sq = v[20].buf, c->out = v[21].buf;
    return 0;
}

/* One TCP packet with payload (len > 0) of the flow in row s, from side A if from_a, at
   time t; prev: the flow's latest time before it. A slot that reaches a checkpoint goes
   to c->out[(*found)++]. Inline in both loops that run it (flow_behaviour's, and
   flow_update's when it is given the columns). */
static inline __attribute__((always_inline)) void bh_payload(const bh_cols *c, int64_t s, int from_a, int64_t len, double t,
                              double prev, int64_t seq, Py_ssize_t *found) {
    uint8_t side = from_a ? 1 : 2, cur = c->msg_side[s];
    uint16_t seq16 = (uint16_t)(seq & 0xFFFF);
    uint64_t size = (uint64_t)len > 0xFFFFFFFFULL ? 0xFFFFFFFFULL : (uint64_t)len;
    if (cur == side && c->msg_seq[s] == seq16) return; /* retransmission */
    double gap = t - prev;
    if (cur == side && !(gap > BH_GAP)) {
        uint64_t m = (uint64_t)c->msg_bytes[s] + size;
        c->msg_bytes[s] = m > 0xFFFFFFFFULL ? 0xFFFFFFFFU : (uint32_t)m;
        c->msg_seq[s] = seq16;
        return;
    }
    uint64_t k = (uint64_t)c->msgs_a[s] + c->msgs_b[s];
    if (cur) { /* the message in progress ends */
        uint64_t m = c->msg_bytes[s];
        double sq = (double)(m * m);
        if (cur == 1) c->msg_sq_a[s] = (float)((double)c->msg_sq_a[s] + sq);
        else c->msg_sq_b[s] = (float)((double)c->msg_sq_b[s] + sq);
        if (k >= 1 && k - 1 < BH_FIRST) {
            int16_t v = (int16_t)(m > 0x7FFF ? 0x7FFF : m);
            c->first_size[s * BH_FIRST + (int64_t)(k - 1)] = cur == 1 ? v : (int16_t)-v;
        }
    }
    if (k < BH_FIRST) {
        unsigned q = bh_bitlen((uint64_t)bh_millis(gap));
        c->first_gap[s] |= (uint32_t)(q > 15 ? 15 : q) << (4 * k);
    }
    uint32_t *mine = side == 1 ? &c->msgs_a[s] : &c->msgs_b[s];
    if (*mine < 0xFFFFFFFFU) *mine += 1;
    float rel = (float)(t - c->first_ts[s]);
    uint8_t server = c->client_is_a[s] ? 2 : 1;
    if (side == server) {
        if (cur == server) { /* a push */
            uint16_t p = c->pushes[s];
            if (p) {
                int64_t ms = bh_millis((double)rel - (double)c->push_last[s]);
                c->push_sq[s] = (float)((double)c->push_sq[s] + (double)(ms * ms) / 1e6);
                unsigned b = bh_bitlen((uint64_t)(ms / 1000));
                b = b <= 1 ? 0 : (b - 1 > 7 ? 7 : b - 1);
                uint8_t *h = &c->push_hist[s * 8 + b];
                if (*h < 255) *h += 1;
            } else {
                c->push_first[s] = rel;
            }
            c->push_last[s] = rel;
            if (p < 0xFFFF) {
                unsigned np = p + 1u, q = np / 3u;
                c->pushes[s] = (uint16_t)np;
                if (np <= 8u ? np >= 1u : (np % 3u == 0 && (q & (q - 1)) == 0))
                    c->out[(*found)++] = s;
            }
        } else if (cur) { /* an answer: from the start of the client's message */
            double delay = (double)rel - (double)c->req_last[s];
            c->answer_delay[s] = (float)((double)c->answer_delay[s] + (delay > 0.0 ? delay : 0.0));
            /* answers so far, as record_behaviours counts them: server messages that
               are neither pushes nor the flow's first message; 3, 6, 12 ... report */
            int16_t first = c->first_size[s * BH_FIRST];
            int first_is_server = first != 0 && ((first < 0) == (c->client_is_a[s] != 0));
            int64_t answers = (int64_t)*mine - (int64_t)c->pushes[s] - first_is_server;
            int64_t q = answers / 3;
            if (answers >= 3 && answers % 3 == 0 && (q & (q - 1)) == 0) c->out[(*found)++] = s;
        }
    } else {
        if (*mine == 1) {
            c->req_first[s] = rel;
        } else {
            int64_t ms = bh_millis((double)rel - (double)c->req_last[s]);
            c->req_sq[s] = (float)((double)c->req_sq[s] + (double)(ms * ms) / 1e6);
        }
        c->req_last[s] = rel;
    }
    c->msg_side[s] = side;
    c->msg_bytes[s] = (uint32_t)size;
    c->msg_seq[s] = seq16;
}

enum { BH_IN = 7 };

PyObject *flow_behaviour(PyObject *self, PyObject *args) {
    PyObject *objs[BH_IN + BH_COLS];
    Py_buffer v[BH_IN + BH_COLS];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOOOOOOOOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15],
                          &objs[16], &objs[17], &objs[18], &objs[19], &objs[20], &objs[21],
                          &objs[22], &objs[23], &objs[24], &objs[25], &objs[26], &objs[27],
                          &objs[28]))
        return NULL;
    if (take_buffers(objs, v, BH_IN + BH_COLS, BH_IN + 2) < 0)
        return NULL;
    const int64_t *group = v[0].buf, *slots = v[1].buf;
    const uint8_t *src_first = v[2].buf, *proto = v[3].buf;
    const int64_t *plen = v[4].buf;
    const double *ts = v[5].buf;
    const int64_t *seq = v[6].buf;
    Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t ngroups = v[1].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t rows = v[BH_IN + 3].len; /* msg_side's */
    /* every buffer must hold what it is indexed with */
    static const Py_ssize_t per_packet[BH_IN] = {8, 0, 1, 1, 8, 8, 8};
    bh_cols c;
    int bad = bh_bind(&c, v + BH_IN, rows, n) < 0;
    for (int k = 0; k < BH_IN; k++)
        if (v[k].len < n * per_packet[k]) bad = 1;
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int64_t g = group[i];
        if (g < 0 || g >= ngroups) { bad = 1; break; }
        int64_t s = slots[g];
        if (s < 0) continue;
        if (s >= rows) { bad = 1; break; }
        double t = ts[i], prev = c.last_ts[s];
        if (t > prev) c.last_ts[s] = t;
        if (proto[i] == 6 && plen[i] > 0)
            bh_payload(&c, s, src_first[i], plen[i], t, prev, seq[i], &found);
    }
    release_buffers(v, BH_IN + BH_COLS);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "group, slot or buffer size out of range");
        return NULL;
    }
    return PyLong_FromSsize_t(found);
}

/* One packet counted on its side's columns of flow row s (flow_update's loop, once per
   side: inlined, so each side keeps its own branch and the loop its speed). */
static inline void side_count(int64_t s, uint8_t f, int64_t wirelen, uint64_t pl, int64_t seq,
                              uint32_t *pkts, uint64_t *bytes, uint32_t *pay, uint8_t *fl,
                              uint32_t *isn, uint8_t *state, uint8_t fin_bit, uint8_t syn_bit) {
    pkts[s] += 1;
    bytes[s] += (uint64_t)wirelen;
    uint64_t p = (uint64_t)pay[s] + pl;
    pay[s] = p > 0xFFFFFFFFULL ? 0xFFFFFFFFU : (uint32_t)p;
    fl[s] |= f;
    if (f & 0x01) state[s] |= fin_bit;
    if (f & 0x02) {
        isn[s] = (uint32_t)(seq + 1);
        state[s] |= syn_bit;
    }
}

/* flow_update(group, slots, src_first, flags, wirelen, payload_len, ts, seq, pkt_slot_out,
               pkts_a, pkts_b, bytes_a, bytes_b, payload_a, payload_b, flags_a, flags_b,
               last_ts, state, isn_a, isn_b, proto, behaviour) -> count: the 12 after
   pkt_slot_out are flow-table columns. behaviour: None, or flow_behaviour's last 22
   arguments (client_is_a ... checkpoints_out) as a tuple, to do its work in this loop as
   well (it ran as a loop of its own over the batch before: ~0.4 % more instructions on
   the generated bench input, callgrind); count is then its return, else 0. */
PyObject *flow_update(PyObject *self, PyObject *args) {
    PyObject *objs[22], *bh_obj;
    Py_buffer v[22], bv[BH_COLS];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15],
                          &objs[16], &objs[17], &objs[18], &objs[19], &objs[20], &objs[21],
                          &bh_obj))
        return NULL;
    int with_bh = bh_obj != Py_None;
    if (with_bh && (!PyTuple_Check(bh_obj) || PyTuple_GET_SIZE(bh_obj) != BH_COLS)) {
        PyErr_SetString(PyExc_TypeError, "behaviour: None or a tuple of flow_behaviour's 22 columns");
        return NULL;
    }
    /* proto (read) last: the 8 before the columns are read, the rest written */
    PyObject *proto_obj = objs[21];
    if (take_buffers(objs, v, 21, 8) < 0)
        return NULL;
    if (PyObject_GetBuffer(proto_obj, &v[21], PyBUF_SIMPLE) < 0) {
        release_buffers(v, 21);
        return NULL;
    }
    if (with_bh && take_buffers(&PyTuple_GET_ITEM(bh_obj, 0), bv, BH_COLS, 2) < 0) {
        release_buffers(v, 22);
        return NULL;
    }
    const uint8_t *proto = v[21].buf;
    const int64_t *group = v[0].buf, *slots = v[1].buf;
    const uint8_t *src_first = v[2].buf, *flags = v[3].buf;
    const int64_t *wirelen = v[4].buf, *plen = v[5].buf;
    const double *ts = v[6].buf;
    const int64_t *seq = v[7].buf;
    int64_t *pkt_slot = v[8].buf;
    uint32_t *pkts_a = v[9].buf, *pkts_b = v[10].buf;
    uint64_t *bytes_a = v[11].buf, *bytes_b = v[12].buf;
    uint32_t *pay_a = v[13].buf, *pay_b = v[14].buf;
    uint8_t *fl_a = v[15].buf, *fl_b = v[16].buf;
    double *last_ts = v[17].buf;
    uint8_t *state = v[18].buf;
    uint32_t *isn_a = v[19].buf, *isn_b = v[20].buf;
    Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t ngroups = v[1].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t rows = v[18].len;
    bh_cols bh;
    int bad = v[21].len < n || (with_bh && bh_bind(&bh, bv, rows, n) < 0);
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int64_t g = group[i];
        if (g < 0 || g >= ngroups) { bad = 1; break; }
        int64_t s = slots[g];
        pkt_slot[i] = s;
        if (s < 0) continue;
        if (s >= rows) { bad = 1; break; }
        if (with_bh && proto[i] == 6 && plen[i] > 0) /* before last_ts moves on: its gap */
            bh_payload(&bh, s, src_first[i], plen[i], ts[i], last_ts[s], seq[i], &found);
        uint8_t f = flags[i];
        uint64_t pl = plen[i] > 0 ? (uint64_t)plen[i] : 0;
        if (src_first[i])
            side_count(s, f, wirelen[i], pl, seq[i], pkts_a, bytes_a, pay_a, fl_a, isn_a,
                       state, ST_FIN_A, ST_SYN_A);
        else
            side_count(s, f, wirelen[i], pl, seq[i], pkts_b, bytes_b, pay_b, fl_b, isn_b,
                       state, ST_FIN_B, ST_SYN_B);
        if (f & 0x04) state[s] |= ST_RST;
        if (ts[i] > last_ts[s]) last_ts[s] = ts[i];
    }
    release_buffers(v, 22);
    if (with_bh) release_buffers(bv, BH_COLS);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "group, slot or buffer size out of range");
        return NULL;
    }
    return PyLong_FromSsize_t(found);
}

/* flow_fill(created, fp, fs, fsa, src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto,
             flags, ts, src_first, tunnel, likely_server, v4_nets, columns) -> None

   The rows of a batch's new flows (FlowTracker._create; its numpy twin flows._fill_numpy
   is the definition, tests/test_flow_twins.py compares them on random inputs): flow k,
   in row created[k], takes its canonical tuple from its first packet fp[k] (side A the
   source where src_first), protocol, first and last time, inspect bits (3 for TCP and
   UDP), tunnel key (``tunnel`` None: left as zeroed) and orientation - the sender of its
   first pure SYN fs[k] is the client, else the receiver of its first SYN-ACK fsa[k]
   (either == the batch's length: none), else the port heuristic (flows._client_by_port:
   ``likely_server`` a bool per port, ``v4_nets`` (net, mask) pairs on the low 32 bits of
   what counts as internal, ULA fc00::/7 for IPv6). ``columns``: the table's a_hi, a_lo,
   b_hi, b_lo, a_port, b_port, proto, first_ts, last_ts, inspect, client_is_a, orient_syn,
   tunnel. One pass over the new flows instead of ~25 numpy gathers and ~15 scatters of
   them (a new flow cost ~2,100 instructions in _create on the real-traffic bench). */
#define FF_IN 17
#define FF_COLS 13
static inline int ff_src_is_a(const uint64_t *shi, const uint64_t *slo, const uint64_t *dhi,
                              const uint64_t *dlo, const int64_t *sport, const int64_t *dport,
                              const uint8_t *proto, const uint8_t *flags, int64_t i) {
    /* flows.FlowTracker._src_is_a: (address, port) order, or a one-way ICMP message */
    return shi[i] < dhi[i] ||
           (shi[i] == dhi[i] && (slo[i] < dlo[i] || (slo[i] == dlo[i] && sport[i] <= dport[i]))) ||
           ((flags[i] & 0x80) && proto[i] != 6);
}

static inline int ff_internal(uint64_t hi, uint64_t lo, const uint64_t *nets, Py_ssize_t nnets) {
    /* screen.private_mask: IPv4 (v4-mapped) in one of the nets, else ULA fc00::/7 */
    if (hi == 0 && (lo & 0xFFFFFFFF00000000ULL) == 0x0000FFFF00000000ULL) {
        uint64_t low = lo & 0xFFFFFFFFULL;
        for (Py_ssize_t k = 0; k < nnets; k++)
            if ((low & nets[2 * k + 1]) == nets[2 * k]) return 1;
        return 0;
    }
    return (hi >> 57) == 0x7E;
}

PyObject *flow_fill(PyObject *self, PyObject *args) {
    PyObject *objs[FF_IN], *tunnel_obj, *cols_obj;
    Py_buffer v[FF_IN], cv[FF_COLS];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOO!", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9], &objs[10],
                          &objs[11], &objs[12], &objs[13], &tunnel_obj, &objs[14], &objs[15],
                          &PyTuple_Type, &cols_obj))
        return NULL;
    if (PyTuple_GET_SIZE(cols_obj) != FF_COLS) {
        PyErr_SetString(PyExc_TypeError, "flow_fill: 13 table columns");
        return NULL;
    }
    objs[16] = tunnel_obj == Py_None ? objs[0] : tunnel_obj; /* a stand-in, not read */
    if (take_buffers(objs, v, FF_IN, FF_IN) < 0)
        return NULL;
    if (take_buffers(&PyTuple_GET_ITEM(cols_obj, 0), cv, FF_COLS, 0) < 0) {
        release_buffers(v, FF_IN);
        return NULL;
    }
    const int64_t *created = v[0].buf, *fp = v[1].buf, *fs = v[2].buf, *fsa = v[3].buf;
    const uint64_t *shi = v[4].buf, *slo = v[5].buf, *dhi = v[6].buf, *dlo = v[7].buf;
    const int64_t *sport = v[8].buf, *dport = v[9].buf;
    const uint8_t *proto = v[10].buf, *flags = v[11].buf;
    const double *ts = v[12].buf;
    const uint8_t *src_first = v[13].buf, *likely = v[14].buf;
    const uint64_t *nets = v[15].buf;
    const uint64_t *tunnel = tunnel_obj == Py_None ? NULL : v[16].buf;
    uint64_t *a_hi = cv[0].buf, *a_lo = cv[1].buf, *b_hi = cv[2].buf, *b_lo = cv[3].buf;
    uint16_t *a_port = cv[4].buf, *b_port = cv[5].buf;
    uint8_t *t_proto = cv[6].buf;
    double *first_ts = cv[7].buf, *last_ts = cv[8].buf;
    uint8_t *inspect = cv[9].buf, *client_is_a = cv[10].buf, *orient_syn = cv[11].buf;
    uint64_t *t_tunnel = cv[12].buf;
    Py_ssize_t m = v[0].len / 8, n = v[4].len / 8, rows = cv[6].len, nnets = v[15].len / 16;
    int bad = v[1].len / 8 < m || v[2].len / 8 < m || v[3].len / 8 < m || v[5].len / 8 < n ||
              v[6].len / 8 < n || v[7].len / 8 < n || v[8].len / 8 < n || v[9].len / 8 < n ||
              v[10].len < n || v[11].len < n || v[12].len / 8 < n || v[13].len < n ||
              v[14].len < 65536 || (tunnel && v[16].len / 8 < n);
    for (int k = 0; k < FF_COLS && !bad; k++) {
        Py_ssize_t width = k < 4 || k == 7 || k == 8 || k == 12 ? 8 : (k < 6 ? 2 : 1);
        bad = cv[k].len < rows * width;
    }
    for (Py_ssize_t k = 0; k < m && !bad; k++) {
        int64_t s = created[k], i = fp[k], syn = fs[k], synack = fsa[k];
        if (s < 0 || s >= rows || i < 0 || i >= n || syn < 0 || syn > n || synack < 0 ||
            synack > n) {
            bad = 1;
            break;
        }
        int sf = src_first[i] != 0;
        uint64_t ahi = sf ? shi[i] : dhi[i], alo = sf ? slo[i] : dlo[i];
        uint64_t bhi = sf ? dhi[i] : shi[i], blo = sf ? dlo[i] : slo[i];
        /* the table's uint16 ports, as numpy's assignment casts them */
        uint16_t ap = (uint16_t)(sf ? sport[i] : dport[i]), bp = (uint16_t)(sf ? dport[i] : sport[i]);
        a_hi[s] = ahi, a_lo[s] = alo, b_hi[s] = bhi, b_lo[s] = blo;
        a_port[s] = ap, b_port[s] = bp;
        uint8_t p = proto[i];
        t_proto[s] = p;
        first_ts[s] = ts[i];
        last_ts[s] = ts[i];
        inspect[s] = p == 6 || p == 17 ? 3 : 0;
        if (tunnel) t_tunnel[s] = tunnel[i];
        int client;
        if (syn < n)
            client = ff_src_is_a(shi, slo, dhi, dlo, sport, dport, proto, flags, syn);
        else if (synack < n)
            client = !ff_src_is_a(shi, slo, dhi, dlo, sport, dport, proto, flags, synack);
        else {
            int a_srv = likely[ap] != 0, b_srv = likely[bp] != 0;
            client = a_srv != b_srv ? b_srv : ap >= bp;
            if ((ap < bp ? ap : bp) >= 32768) { /* flows.EPHEMERAL_FROM: both ephemeral */
                int a_in = ff_internal(ahi, alo, nets, nnets), b_in = ff_internal(bhi, blo, nets, nnets);
                if (a_in != b_in) client = a_in;
            }
        }
        client_is_a[s] = (uint8_t)client;
        orient_syn[s] = syn < n || synack < n;
    }
    release_buffers(v, FF_IN);
    release_buffers(cv, FF_COLS);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "flow_fill: a row, packet or buffer size out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* flow_verify(slots, first_pkt, src_first, src_hi, src_lo, dst_hi, dst_lo, sport, dport,
               tunnel, untunneled, a_hi, a_lo, b_hi, b_lo, a_port, b_port, t_tunnel)
     -> collisions

   FlowTracker.place's collision check (its numpy twin flows._verify_numpy is the
   definition; tests/test_flow_twins.py compares them on random inputs): each group's slot
   (slots, -1 none) stays only where the row's stored tuple equals the group's canonical
   one, read at its first packet - and its tunnel key the packet's (``tunnel``), or 0 when
   ``untunneled`` (the batch came in no tunnel but the table holds tunneled flows). The
   slots of the others are set to -1 in place; returns how many there were. One pass,
   where numpy made ~12 gathers, 6 where's and a masked scatter per group. */
PyObject *flow_verify(PyObject *self, PyObject *args) {
    PyObject *objs[17], *tunnel_obj;
    Py_buffer v[18];
    int untunneled;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOpOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &tunnel_obj,
                          &untunneled, &objs[9], &objs[10], &objs[11], &objs[12], &objs[13],
                          &objs[14], &objs[15]))
        return NULL;
    objs[16] = tunnel_obj == Py_None ? objs[1] : tunnel_obj; /* a stand-in, not read */
    /* slots (written) first, then the read-only rest */
    if (take_buffers(objs, v, 1, 0) < 0)
        return NULL;
    if (take_buffers(objs + 1, v + 1, 16, 16) < 0) {
        release_buffers(v, 1);
        return NULL;
    }
    int64_t *slots = v[0].buf;
    const int64_t *first_pkt = v[1].buf;
    const uint8_t *src_first = v[2].buf;
    const uint64_t *shi = v[3].buf, *slo = v[4].buf, *dhi = v[5].buf, *dlo = v[6].buf;
    const int64_t *sport = v[7].buf, *dport = v[8].buf;
    const uint64_t *a_hi = v[9].buf, *a_lo = v[10].buf, *b_hi = v[11].buf, *b_lo = v[12].buf;
    const uint16_t *a_port = v[13].buf, *b_port = v[14].buf;
    const uint64_t *t_tunnel = v[15].buf;
    const uint64_t *tunnel = tunnel_obj == Py_None ? NULL : v[16].buf;
    Py_ssize_t m = v[0].len / 8, n = v[3].len / 8, rows = v[9].len / 8;
    int bad = v[1].len / 8 < m || v[2].len < n || v[4].len / 8 < n || v[5].len / 8 < n ||
              v[6].len / 8 < n || v[7].len / 8 < n || v[8].len / 8 < n ||
              v[10].len / 8 < rows || v[11].len / 8 < rows || v[12].len / 8 < rows ||
              v[13].len / 2 < rows || v[14].len / 2 < rows || v[15].len / 8 < rows ||
              (tunnel && v[16].len / 8 < n);
    Py_ssize_t collisions = 0;
    for (Py_ssize_t g = 0; g < m && !bad; g++) {
        int64_t s = slots[g], i = first_pkt[g];
        if (s < 0) continue;
        if (s >= rows || i < 0 || i >= n) {
            bad = 1;
            break;
        }
        int sf = src_first[i] != 0;
        int same = a_hi[s] == (sf ? shi[i] : dhi[i]) && a_lo[s] == (sf ? slo[i] : dlo[i]) &&
                   b_hi[s] == (sf ? dhi[i] : shi[i]) && b_lo[s] == (sf ? dlo[i] : slo[i]) &&
                   (int64_t)a_port[s] == (sf ? sport[i] : dport[i]) &&
                   (int64_t)b_port[s] == (sf ? dport[i] : sport[i]);
        if (same && tunnel) same = t_tunnel[s] == tunnel[i];
        else if (same && untunneled) same = t_tunnel[s] == 0;
        if (!same) {
            slots[g] = -1;
            collisions++;
        }
    }
    release_buffers(v, 17);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "flow_verify: a slot, packet or buffer size out of range");
        return NULL;
    }
    return PyLong_FromSsize_t(collisions);
}

/* sweep_flags(used, last_ts, state, proto, first_ts, now, tcp_idle, udp_idle, close,
               active, out) -> None

   What FlowTracker._sweep decides of each flow (its numpy twin flows._sweep_flags_numpy
   is the definition; tests/test_flow_twins.py compares them on random inputs): per
   used slot, bit 1 quiet longer than its protocol's idle timeout (TCP's or the other
   one), bit 2 closed (a RST, or a FIN from each side: flows._closed) and quiet longer than
   the close timeout, bit 4 older than the active timeout, bit 8 reusable (a RST or side
   A's FIN: the detached rows' naming reads it). One pass over the table's used rows
   every batch, where numpy gathered four columns and compared them (~20 instructions a
   flow and column; the generated bench keeps ~15,000 flows). */
PyObject *sweep_flags(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    Py_buffer v[6];
    double now, tcp_idle, udp_idle, close_to, active;
    if (!PyArg_ParseTuple(args, "OOOOOdddddO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &now, &tcp_idle, &udp_idle, &close_to, &active, &objs[5]))
        return NULL;
    if (take_buffers(objs, v, 6, 5) < 0)
        return NULL;
    const int64_t *used = v[0].buf;
    const double *last_ts = v[1].buf, *first_ts = v[4].buf;
    const uint8_t *state = v[2].buf, *proto = v[3].buf;
    uint8_t *out = v[5].buf;
    Py_ssize_t m = v[0].len / 8, rows = v[2].len;
    int bad = v[1].len / 8 < rows || v[3].len < rows || v[4].len / 8 < rows || v[5].len < m;
    /* the thresholds as numpy works them out: now - timeout, once */
    double tcp_by = now - tcp_idle, udp_by = now - udp_idle, close_by = now - close_to,
           active_by = now - active;
    for (Py_ssize_t k = 0; k < m && !bad; k++) {
        int64_t s = used[k];
        if (s < 0 || s >= rows) {
            bad = 1;
            break;
        }
        double last = last_ts[s];
        uint8_t st = state[s];
        int closed = (st & ST_RST) || ((st & ST_FIN_A) && (st & ST_FIN_B));
        out[k] = (uint8_t)((last < (proto[s] == 6 ? tcp_by : udp_by)) |
                           ((closed && last < close_by) << 1) | ((first_ts[s] < active_by) << 2) |
                           (((st & (ST_RST | ST_FIN_A)) != 0) << 3));
    }
    release_buffers(v, 6);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "sweep_flags: a slot or buffer size out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* zero_rows(columns, slots) -> None

   flowtable.FlowTable.allocate's clearing of the rows it hands out (its numpy loop,
   ``_zero_rows_numpy``, is the twin; tests/test_flow_twins.py compares them): every row
   ``slots`` names set to zero in each of ``columns`` (C-contiguous arrays, one row per
   flow, of any dtype and width). One call instead of a fancy-index assignment per column:
   a batch's ~900 new flows cost ~45 of those, each with numpy's set-up (callgrind: 0.7 M
   instructions a batch). */
PyObject *zero_rows(PyObject *self, PyObject *args) {
    PyObject *columns, *slots_obj;
    if (!PyArg_ParseTuple(args, "O!O", &PyTuple_Type, &columns, &slots_obj))
        return NULL;
    Py_buffer sv;
    if (PyObject_GetBuffer(slots_obj, &sv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (sv.itemsize != 8 || !sv.format || (strcmp(sv.format, "l") && strcmp(sv.format, "q"))) {
        PyBuffer_Release(&sv);
        PyErr_SetString(PyExc_TypeError, "slots must be int64");
        return NULL;
    }
    const int64_t *slots = sv.buf;
    Py_ssize_t n = sv.len / 8;
    /* The slots' range, once: every column is checked against it (a pass over the slots
       per column was a third of this function's instructions, callgrind). */
    int64_t lo = 0, hi = -1;
    if (n) lo = hi = slots[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        if (slots[i] < lo) lo = slots[i];
        if (slots[i] > hi) hi = slots[i];
    }
    for (Py_ssize_t c = 0; c < PyTuple_GET_SIZE(columns); c++) {
        Py_buffer v;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(columns, c), &v,
                               PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_ND) < 0) {
            PyBuffer_Release(&sv);
            return NULL;
        }
        Py_ssize_t rows = v.ndim ? v.shape[0] : 0;
        Py_ssize_t width = rows ? v.len / rows : 0;
        unsigned char *base = v.buf;
        int bad = n && (lo < 0 || hi >= rows);
        if (!bad) {
            switch (width) {
            case 1: for (Py_ssize_t i = 0; i < n; i++) base[slots[i]] = 0; break;
            case 2: for (Py_ssize_t i = 0; i < n; i++) memset(base + slots[i] * 2, 0, 2); break;
            case 4: for (Py_ssize_t i = 0; i < n; i++) memset(base + slots[i] * 4, 0, 4); break;
            case 8: for (Py_ssize_t i = 0; i < n; i++) memset(base + slots[i] * 8, 0, 8); break;
            default:
                for (Py_ssize_t i = 0; i < n; i++) memset(base + slots[i] * width, 0, (size_t)width);
            }
        }
        PyBuffer_Release(&v);
        if (bad) {
            PyBuffer_Release(&sv);
            PyErr_SetString(PyExc_IndexError, "a slot outside the column");
            return NULL;
        }
    }
    PyBuffer_Release(&sv);
    Py_RETURN_NONE;
}

/* index_drop(index_keys, index_slots, gone, capacity, keys_out, slots_out) -> count

   flowtable.py's _index_drop_numpy compiled (the twin; tests/test_flow_twins.py compares
   them): the key index (uint64 keys, int32 slots, in key order) without the entries whose
   slot is among ``gone`` (int64 slots below ``capacity``), written in order to keys_out
   and slots_out. One pass over the index with a mark per slot, where numpy made a mask of
   the table's size, gathered it at every entry (an int32 index: numpy's slow path) and
   took two masked copies - every batch whose sweep ends a flow. The marks are a block
   kept from call to call and left clear by each (as flow_group's hash table: the GIL is
   held throughout and no Python code runs). */
static uint8_t *idx_marks = NULL;
static Py_ssize_t idx_marks_cap = 0;

PyObject *index_drop(PyObject *self, PyObject *args) {
    PyObject *objs[5];
    Py_buffer v[5];
    Py_ssize_t capacity;
    if (!PyArg_ParseTuple(args, "OOOnOO", &objs[0], &objs[1], &objs[2], &capacity, &objs[3],
                          &objs[4]))
        return NULL;
    if (capacity < 0) {
        PyErr_SetString(PyExc_ValueError, "index_drop: a negative capacity");
        return NULL;
    }
    if (capacity > idx_marks_cap) {
        uint8_t *grown = calloc((size_t)capacity, 1);
        if (!grown) return PyErr_NoMemory();
        free(idx_marks);
        idx_marks = grown;
        idx_marks_cap = capacity;
    }
    if (take_buffers(objs, v, 5, 3) < 0)
        return NULL;
    const uint64_t *keys = v[0].buf;
    const int32_t *slots = v[1].buf;
    const int64_t *gone = v[2].buf;
    uint64_t *keys_out = v[3].buf;
    int32_t *slots_out = v[4].buf;
    Py_ssize_t n = v[0].len / 8, m = v[2].len / 8, count = 0, marked = 0;
    int bad = v[1].len / 4 < n || v[3].len / 8 < n || v[4].len / 4 < n;
    for (; marked < m && !bad; marked++) {
        if (gone[marked] < 0 || gone[marked] >= capacity) bad = 1;
        else idx_marks[gone[marked]] = 1;
    }
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int32_t s = slots[i];
        if (s < 0 || s >= capacity) {
            bad = 1;
            break;
        }
        if (idx_marks[s]) continue;
        keys_out[count] = keys[i];
        slots_out[count] = s;
        count++;
    }
    for (Py_ssize_t k = 0; k < marked; k++)
        if (gone[k] >= 0 && gone[k] < capacity) idx_marks[gone[k]] = 0;
    release_buffers(v, 5);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "index_drop: a slot outside the table or a short column");
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

/* index_merge(index_keys, index_slots, keys, slots, keys_out, slots_out) -> None

   flowtable.py's _index_merge_numpy compiled (the twin; tests/test_flow_twins.py compares
   them): the key index (uint64 keys in order, int32 slots) with new entries (``keys``
   in order, int64 ``slots``) merged in, each new key before the index's equal ones (as
   np.insert at np.searchsorted's left positions puts it), written to keys_out and
   slots_out (room for both). One merge pass where numpy searched each key's position,
   then np.insert built a mask of the whole new index and copied through it twice (keys,
   slots): every batch that creates a flow. */
PyObject *index_merge(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    Py_buffer v[6];
    if (!PyArg_ParseTuple(args, "OOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5]))
        return NULL;
    if (take_buffers(objs, v, 6, 4) < 0)
        return NULL;
    const uint64_t *old_keys = v[0].buf, *new_keys = v[2].buf;
    const int32_t *old_slots = v[1].buf;
    const int64_t *new_slots = v[3].buf;
    uint64_t *keys_out = v[4].buf;
    int32_t *slots_out = v[5].buf;
    Py_ssize_t n = v[0].len / 8, k = v[2].len / 8;
    int bad = v[1].len / 4 < n || v[3].len / 8 < k || v[4].len / 8 < n + k || v[5].len / 4 < n + k;
    Py_ssize_t i = 0, j = 0, o = 0;
    while (!bad && (i < n || j < k)) {
        if (j == k || (i < n && old_keys[i] < new_keys[j])) {
            keys_out[o] = old_keys[i];
            slots_out[o++] = old_slots[i++];
        } else {
            keys_out[o] = new_keys[j];
            slots_out[o++] = (int32_t)new_slots[j++]; /* as astype(np.int32) */
        }
    }
    release_buffers(v, 6);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "index_merge: a short column");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* fanout_owners(src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, carrier_port,
                 carrier_proto, parent, count, out) -> None

   detector/fanout.py's owners compiled (its numpy twin, _owners_numpy, is the definition;
   tests/test_split.py compares them): the worker of ``count`` that holds each packet's
   flow. A symmetric hash of the packet's two (address, port) ends and protocol; a tunnel
   carrier (carrier_proto[proto], or UDP with carrier_port[a port]) without ports and
   protocol; a packet inside a tunnel (parent: None or each packet's carrier row, -1 none)
   where its carrier goes - carriers come before what they carry, so ``out`` of the parent
   is already set. One pass, no temporary arrays: numpy's took ~20 page faults a batch. */
PyObject *fanout_owners(PyObject *self, PyObject *args) {
    PyObject *objs[10], *parent_obj;
    Py_buffer v[10], pv;
    const void *parent_buf;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOnO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &parent_obj,
                          &count, &objs[9]))
        return NULL;
    if (count < 1) {
        PyErr_SetString(PyExc_ValueError, "count must be at least 1");
        return NULL;
    }
    if (take_buffers(objs, v, 10, 9) < 0)
        return NULL;
    if (take_optional(&parent_obj, &pv, &parent_buf, 1) < 0) {
        release_buffers(v, 10);
        return NULL;
    }
    const int64_t *parent = parent_buf;
    const uint64_t *shi = v[0].buf, *slo = v[1].buf, *dhi = v[2].buf, *dlo = v[3].buf;
    const int64_t *sport = v[4].buf, *dport = v[5].buf;
    const uint8_t *proto = v[6].buf, *cport = v[7].buf, *cproto = v[8].buf;
    int64_t *out = v[9].buf;
    Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(uint64_t);
    const uint64_t SEED = 0x5EED5EED0F0F0F0FULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p = parent ? parent[i] : -1;
        if (p >= 0 && p < i) {
            out[i] = out[p];
            continue;
        }
        uint64_t pr = proto[i];
        int carrier = cproto[pr] ||
                      (pr == 17 && (cport[sport[i] & 0xFFFF] || cport[dport[i] & 0xFFFF]));
        uint64_t sp = carrier ? 0 : (uint64_t)sport[i], dp = carrier ? 0 : (uint64_t)dport[i];
        if (carrier)
            pr = 0;
        uint64_t a = mix64(mix64(shi[i] ^ SEED) ^ slo[i] ^ (sp << 48));
        uint64_t b = mix64(mix64(dhi[i] ^ SEED) ^ dlo[i] ^ (dp << 48));
        uint64_t h = mix64(a + b + pr);
        out[i] = (int64_t)((h >> 32) % (uint64_t)count);
    }
    release_buffers(v, 10);
    release_optional(&pv, &parent_buf, 1);
    Py_RETURN_NONE;
}

