/*
 * Record walks for the capture readers (source/walk.py, their twin): the one loop that
 * cannot be vectorised, because each record's length says where the next one starts. The
 * classic-pcap walk also writes each record's header fields when asked (source/pcap.py's
 * numpy gather, _fields_numpy, is that part's twin).
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

/* walk_pcap(data, start, end, little, limit, out, lengths=0, unit=0, caplen_out=None,
             wirelen_out=None, ts_out=None)
   With the three field columns (each as long as ``out``) it also writes each record's
   captured length (as record_caplen reads it), wire length (the larger of the two, so
   never below caplen) and time (sec + frac * unit in double precision) there - the twin:
   the Python walk, then source/pcap.py's _fields_numpy. The walk reads the header anyway:
   a second pass over the batch's headers (pcap_fields, before) cost ~30 instructions a
   record, the fields here ~22 (callgrind, real-1m). */
PyObject *walk_pcap(PyObject *self, PyObject *args) {
    PyObject *data, *out, *field_objs[3] = {Py_None, Py_None, Py_None};
    Py_ssize_t start, end;
    int little, lengths = LENGTHS_IN_ORDER;
    unsigned long long limit;
    double unit = 0.0;
    Py_buffer in_view, out_view, fv[3];
    if (!PyArg_ParseTuple(args, "OnnpKO|idOOO", &data, &start, &end, &little, &limit, &out,
                          &lengths, &unit, &field_objs[0], &field_objs[1], &field_objs[2]))
        return NULL;
    if (check_lengths(lengths) < 0)
        return NULL;
    int fields = field_objs[0] != Py_None;
    if (fields != (field_objs[1] != Py_None) || fields != (field_objs[2] != Py_None)) {
        PyErr_SetString(PyExc_TypeError, "walk_pcap: give all three field columns or none");
        return NULL;
    }
    if (fields && take_buffers(field_objs, fv, 3, 0) < 0)
        return NULL;
    if (get_buffers(data, out, &in_view, &out_view) < 0) {
        if (fields)
            release_buffers(fv, 3);
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)in_view.buf;
    int64_t *offs = (int64_t *)out_view.buf;
    Py_ssize_t cap = out_view.len / (Py_ssize_t)sizeof(int64_t);
    int64_t *caplen_out = NULL, *wirelen_out = NULL;
    double *ts_out = NULL;
    if (fields) {
        if (fv[0].len < cap * 8 || fv[1].len < cap * 8 || fv[2].len < cap * 8) {
            release_buffers(fv, 3);
            PyBuffer_Release(&in_view);
            PyBuffer_Release(&out_view);
            PyErr_SetString(PyExc_ValueError, "walk_pcap: a field column shorter than out");
            return NULL;
        }
        caplen_out = fv[0].buf, wirelen_out = fv[1].buf, ts_out = fv[2].buf;
    }
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
        if (fields) {
            const unsigned char *h = buf + off;
            uint32_t sec, frac, first, second; /* each a single load */
            if (little)
                sec = LE32(h), frac = LE32(h + 4), first = LE32(h + 8), second = LE32(h + 12);
            else
                sec = BE32(h), frac = BE32(h + 4), first = BE32(h + 8), second = BE32(h + 12);
            caplen_out[n] = caplen;
            wirelen_out[n] = first > second ? first : second;
            ts_out[n] = (double)sec + (double)frac * unit;
        }
        offs[n++] = (int64_t)off;
        off = next;
    }
    PyBuffer_Release(&in_view);
    PyBuffer_Release(&out_view);
    if (fields)
        release_buffers(fv, 3);
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
