/*
 * Record walks for the capture readers: the one loop that cannot be vectorised, because
 * each record's length says where the next one starts. Pure-Python twins live in
 * walk.py and give identical results (tests/test_walk.py compares them).
 *
 * Both functions fill a caller-provided int64 buffer with record offsets and return
 * (count, stop_offset, status):
 *   status 0: stopped at an incomplete record (or the end of the data),
 *   status 1: damage at stop_offset (impossible length),
 *   status 2: (pcapng only) stopped at a block that is not an Enhanced Packet Block,
 *   status 3: the output buffer is full.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t rd32(const unsigned char *p, int little) {
    if (little)
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static int get_buffers(PyObject *data, PyObject *out, Py_buffer *in_view, Py_buffer *out_view) {
    if (PyObject_GetBuffer(data, in_view, PyBUF_SIMPLE) < 0)
        return -1;
    if (PyObject_GetBuffer(out, out_view, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(in_view);
        return -1;
    }
    return 0;
}

/* walk_pcap(data, start, end, little, limit, out) */
static PyObject *walk_pcap(PyObject *self, PyObject *args) {
    PyObject *data, *out;
    Py_ssize_t start, end;
    int little;
    unsigned long long limit;
    Py_buffer in_view, out_view;
    if (!PyArg_ParseTuple(args, "OnnpKO", &data, &start, &end, &little, &limit, &out))
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
    while (off + 16 <= end) {
        uint32_t caplen = rd32(buf + off + 8, little);
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
static PyObject *walk_pcapng_epb(PyObject *self, PyObject *args) {
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

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of complete classic-pcap records."},
    {"walk_pcapng_epb", walk_pcapng_epb, METH_VARARGS, "Offsets of consecutive pcapng EPBs."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "detector.source._walk", "Capture record walks in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
