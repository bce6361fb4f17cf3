/*
 * Record walks for the capture readers (source/walk.py, their twin): the one loop that
 * cannot be vectorised, because each record's length says where the next one starts; and
 * the classic-pcap record header fields (source/pcap.py's numpy gather is the twin).
 *
 * Record walks:
 * Both functions fill a caller-provided int64 buffer with record offsets and return
 * (count, stop_offset, status):
 *   status 0: stopped at an incomplete record (or the end of the data),
 *   status 1: damage at stop_offset (impossible length),
 *   status 2: (pcapng only) stopped at a block that is not an Enhanced Packet Block,
 *   status 3: the output buffer is full.
 */
#include "fast.h"

static int get_buffers(PyObject *data, PyObject *out, Py_buffer *in_view, Py_buffer *out_view) {
    if (PyObject_GetBuffer(data, in_view, PyBUF_SIMPLE) < 0)
        return -1;
    if (PyObject_GetBuffer(out, out_view, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(in_view);
        return -1;
    }
    return 0;
}


#ifndef WALK_PREFETCH
#define WALK_PREFETCH 4096
#endif

/* Which of a classic-pcap record header's two lengths is the captured one (source/walk.py,
   as libpcap's sf-pcap.c reads them): 0 the first (files of version 2.4), 1 the second
   (versions before 2.3 and DG/UX's 543.0 wrote the wire length first), 2 the smaller
   (version 2.3 files come both ways). */
#define LENGTHS_IN_ORDER 0
#define LENGTHS_SWAPPED 1
#define LENGTHS_MAYBE_SWAPPED 2

static uint32_t record_caplen(const unsigned char *h, int little, int lengths) {
    uint32_t first = rd32(h + 8, little);
    if (lengths == LENGTHS_IN_ORDER)
        return first;
    uint32_t second = rd32(h + 12, little);
    if (lengths == LENGTHS_SWAPPED)
        return second;
    return first < second ? first : second;
}

static int check_lengths(int lengths) {
    if (lengths < LENGTHS_IN_ORDER || lengths > LENGTHS_MAYBE_SWAPPED) {
        PyErr_SetString(PyExc_ValueError, "lengths must be 0, 1 or 2");
        return -1;
    }
    return 0;
}

/* walk_pcap(data, start, end, little, limit, out, lengths=0) */
PyObject *walk_pcap(PyObject *self, PyObject *args) {
    PyObject *data, *out;
    Py_ssize_t start, end;
    int little, lengths = LENGTHS_IN_ORDER;
    unsigned long long limit;
    Py_buffer in_view, out_view;
    if (!PyArg_ParseTuple(args, "OnnpKO|i", &data, &start, &end, &little, &limit, &out,
                          &lengths))
        return NULL;
    if (check_lengths(lengths) < 0)
        return NULL;
    if (get_buffers(data, out, &in_view, &out_view) < 0)
        return NULL;
    const unsigned char *buf = (const unsigned char *)in_view.buf;
    int64_t *offs = (int64_t *)out_view.buf;
    Py_ssize_t cap = out_view.len / (Py_ssize_t)sizeof(int64_t);
    if (end > in_view.len)
        end = in_view.len;
    Py_ssize_t off = start, n = 0;
    int status = 0;
    Py_ssize_t ahead = off;  /* bytes up to here were asked for (see below) */
    while (off + 16 <= end) {
        /* Each record's length says where the next starts, so the walk is a chain of
           dependent loads, one cache miss per record. Asking for the lines ahead keeps
           the memory system streaming instead (and leaves the headers cached for the
           decoder, which reads them next). */
        Py_ssize_t horizon = off + WALK_PREFETCH;
        if (horizon > end)
            horizon = end;
        /* A line a turn. Four a turn (a quarter of the turns) took ~13 M fewer
           instructions on the generated bench input but its read stage ~14 ms longer
           (scan --stats, 0.073-0.078 s against 0.058-0.063 s, interleaved runs on one
           core) - measured, not explained (bursts of four may outrun the line fill
           buffers). */
        for (; ahead < horizon; ahead += 64)
            __builtin_prefetch(buf + ahead);
        uint32_t caplen = record_caplen(buf + off, little, lengths);
        if ((unsigned long long)caplen > limit) {
            status = 1;
            break;
        }
        Py_ssize_t next = off + 16 + (Py_ssize_t)caplen;
        if (next > end)
            break;
        if (n >= cap) {
            status = 3;
            break;
        }
        offs[n++] = (int64_t)off;
        off = next;
    }
    PyBuffer_Release(&in_view);
    PyBuffer_Release(&out_view);
    return Py_BuildValue("nni", n, off, status);
}

/* walk_pcapng_epb(data, start, end, little, out): consecutive Enhanced Packet Blocks. */
PyObject *walk_pcapng_epb(PyObject *self, PyObject *args) {
    PyObject *data, *out;
    Py_ssize_t start, end;
    int little;
    Py_buffer in_view, out_view;
    if (!PyArg_ParseTuple(args, "OnnpO", &data, &start, &end, &little, &out))
        return NULL;
    if (get_buffers(data, out, &in_view, &out_view) < 0)
        return NULL;
    const unsigned char *buf = (const unsigned char *)in_view.buf;
    int64_t *offs = (int64_t *)out_view.buf;
    Py_ssize_t cap = out_view.len / (Py_ssize_t)sizeof(int64_t);
    if (end > in_view.len)
        end = in_view.len;
    Py_ssize_t off = start, n = 0;
    int status = 0;
    while (off + 12 <= end) {
        uint32_t btype = rd32(buf + off, little);
        uint32_t blen = rd32(buf + off + 4, little);
        if (btype != 6) {
            status = 2;
            break;
        }
        if (blen < 32 || (blen & 3) || blen > 16u * 1024u * 1024u) {
            status = 1;
            break;
        }
        if (off + (Py_ssize_t)blen > end)
            break;
        if (rd32(buf + off + blen - 4, little) != blen || rd32(buf + off + 20, little) > blen - 32) {
            status = 1;
            break;
        }
        if (n >= cap) {
            status = 3;
            break;
        }
        offs[n++] = (int64_t)off;
        off += (Py_ssize_t)blen;
    }
    PyBuffer_Release(&in_view);
    PyBuffer_Release(&out_view);
    return Py_BuildValue("nni", n, off, status);
}

/* ------------------------------------------------------------- pcap record fields */
/* pcap_fields(buf, offsets, little, unit, caplen_out, wirelen_out, ts_out, lengths=0): the
   record header fields of every record, exactly as source/pcap.py's numpy gather computes
   them (ts = sec + frac * unit in double precision; caplen as record_caplen says; wirelen
   the larger length, so never below caplen). */
PyObject *pcap_fields(PyObject *self, PyObject *args) {
    PyObject *objs[5];
    int little, lengths = LENGTHS_IN_ORDER;
    double unit;
    Py_buffer v[5];
    if (!PyArg_ParseTuple(args, "OOpdOOO|i", &objs[0], &objs[1], &little, &unit, &objs[2],
                          &objs[3], &objs[4], &lengths))
        return NULL;
    if (check_lengths(lengths) < 0)
        return NULL;
    if (take_buffers(objs, v, 5, 2) < 0)
        return NULL;
    const unsigned char *buf = (const unsigned char *)v[0].buf;
    const int64_t *offs = (const int64_t *)v[1].buf;
    int64_t *caplen = v[2].buf, *wirelen = v[3].buf;
    double *ts = v[4].buf;
    Py_ssize_t n = v[1].len / (Py_ssize_t)sizeof(int64_t);
    int bad = 0;
    /* The byte order and the length order are the file's: one loop for each byte order,
       each word a single load (rd32 and record_caplen tested both per word and read it
       byte by byte: 34 instructions a record, now 30; callgrind, the bench inputs). */
#define PF_LOOP(RD)                                                                          \
    for (Py_ssize_t i = 0; i < n; i++) {                                                     \
        if (offs[i] < 0 || offs[i] + 16 > v[0].len) {                                        \
            bad = 1;                                                                         \
            break;                                                                           \
        }                                                                                    \
        const unsigned char *h = buf + offs[i];                                              \
        uint32_t sec = RD(h), frac = RD(h + 4), first = RD(h + 8), second = RD(h + 12);      \
        caplen[i] = lengths == LENGTHS_IN_ORDER ? first                                      \
                    : lengths == LENGTHS_SWAPPED ? second                                    \
                    : (first < second ? first : second);                                     \
        wirelen[i] = first > second ? first : second;                                        \
        ts[i] = (double)sec + (double)frac * unit;                                           \
    }
    if (little)
        PF_LOOP(LE32)
    else
        PF_LOOP(BE32)
#undef PF_LOOP
    release_buffers(v, 5);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "record offset outside the buffer");
        return NULL;
    }
    Py_RETURN_NONE;
}

