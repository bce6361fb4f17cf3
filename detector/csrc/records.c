/* The packed behaviour of ending flows' records (twin: detector/behaviour.py,
   _record_behaviours_numpy; flows.FlowTracker._records asks for it). */

#include "fast.h"

/* record_behaviours(slots, client_is_a, columns) -> list[bytes]

   Per slot (int64), its flow's behaviour packed as behaviour.PACKED lays it out (83 bytes,
   little-endian: the caller checks the host), oriented with its record's client
   (``client_is_a``, one byte per slot): the table's values with the message in progress
   closed as if it ended now. ``columns``: the flow-table columns of RB_COLUMNS' order
   below, each C-contiguous with the dtype flowtable.COLUMNS gives it (the caller checks).
   Why in C: the numpy twin is ~50 whole-batch operations, and a scan's sweeps end a few
   hundred flows at a time, so their calls cost more than the work (~1 M instructions a
   call, callgrind, real-traffic bench). The arithmetic is the twin's: the square of the
   open message in float64 added to the float32 sum as float64, then cast to float32. */

enum {
    RB_CLIENT_IS_A, RB_MSG_SIDE, RB_MSG_BYTES, RB_MSGS_A, RB_MSGS_B, RB_MSG_SQ_A, RB_MSG_SQ_B,
    RB_FIRST_SIZE, RB_FIRST_GAP, RB_PUSHES, RB_PUSH_FIRST, RB_PUSH_LAST, RB_PUSH_SQ,
    RB_PUSH_HIST, RB_ANSWER_DELAY, RB_REQ_FIRST, RB_REQ_LAST, RB_REQ_SQ, RB_COLUMNS
};
/* each column's bytes per row */
static const Py_ssize_t rb_width[RB_COLUMNS] = {1, 1, 4, 4, 4, 4, 4, 16, 4, 2, 4, 4, 4, 8, 4, 4, 4, 4};
enum { RB_FIRST = 8, RB_SIZE = 83 };

PyObject *record_behaviours(PyObject *self, PyObject *args) {
    PyObject *slots_obj, *client_obj, *columns;
    if (!PyArg_ParseTuple(args, "OOO!", &slots_obj, &client_obj, &PyTuple_Type, &columns))
        return NULL;
    if (PyTuple_GET_SIZE(columns) != RB_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "record_behaviours: wrong number of columns");
        return NULL;
    }
    PyObject *objs[2 + RB_COLUMNS];
    Py_buffer v[2 + RB_COLUMNS];
    objs[0] = slots_obj;
    objs[1] = client_obj;
    for (int k = 0; k < RB_COLUMNS; k++) objs[2 + k] = PyTuple_GET_ITEM(columns, k);
    if (take_buffers(objs, v, 2 + RB_COLUMNS, 2 + RB_COLUMNS) < 0)
        return NULL;
    const int64_t *slots = v[0].buf;
    const uint8_t *client = v[1].buf;
    Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(int64_t);
    /* rows: the shortest column's; every slot must lie below it */
    Py_ssize_t rows = PY_SSIZE_T_MAX;
    for (int k = 0; k < RB_COLUMNS; k++) {
        Py_ssize_t r = v[2 + k].len / rb_width[k];
        if (r < rows) rows = r;
    }
    const unsigned char *c[RB_COLUMNS];
    for (int k = 0; k < RB_COLUMNS; k++) c[k] = v[2 + k].buf;
    PyObject *out = NULL;
    if (v[1].len < n) {
        PyErr_SetString(PyExc_ValueError, "record_behaviours: client_is_a is shorter than slots");
        goto done;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        if (slots[j] < 0 || slots[j] >= rows) {
            PyErr_SetString(PyExc_IndexError, "record_behaviours: slot out of range");
            goto done;
        }
    }
    out = PyList_New(n);
    if (!out)
        goto done;
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_ssize_t s = (Py_ssize_t)slots[j];
        int table_a = c[RB_CLIENT_IS_A][s] != 0;
        int flip = client[j] == 0;
        uint8_t side = c[RB_MSG_SIDE][s];
        uint32_t size, msgs_a32, msgs_b32, gaps;
        float sq_a32, sq_b32;
        uint16_t pushes;
        memcpy(&size, c[RB_MSG_BYTES] + 4 * s, 4);
        memcpy(&msgs_a32, c[RB_MSGS_A] + 4 * s, 4);
        memcpy(&msgs_b32, c[RB_MSGS_B] + 4 * s, 4);
        memcpy(&sq_a32, c[RB_MSG_SQ_A] + 4 * s, 4);
        memcpy(&sq_b32, c[RB_MSG_SQ_B] + 4 * s, 4);
        memcpy(&gaps, c[RB_FIRST_GAP] + 4 * s, 4);
        memcpy(&pushes, c[RB_PUSHES] + 2 * s, 2);
        int64_t msgs_a = msgs_a32, msgs_b = msgs_b32;
        double square = (double)size * (double)size;
        double sq_a = (double)sq_a32 + (side == 1 ? square : 0.0);
        double sq_b = (double)sq_b32 + (side == 2 ? square : 0.0);
        int64_t sizes[RB_FIRST];
        for (int m = 0; m < RB_FIRST; m++) {
            int16_t v16;
            memcpy(&v16, c[RB_FIRST_SIZE] + 16 * s + 2 * m, 2);
            sizes[m] = v16;
        }
        int64_t k = msgs_a + msgs_b - 1;
        if (side != 0 && k >= 0 && k < RB_FIRST) {
            int64_t cut = size < 0x7FFF ? (int64_t)size : 0x7FFF;
            sizes[k] = side == 1 ? cut : -cut;
        }
        int first_is_server = sizes[0] != 0 && ((sizes[0] < 0) == table_a);
        int64_t server_msgs = table_a ? msgs_b : msgs_a;
        int64_t answers = server_msgs - (int64_t)pushes - first_is_server;
        if (answers < 0) answers = 0;

        unsigned char rec[RB_SIZE];
        uint32_t u32;
        float f32;
        u32 = (uint32_t)(flip ? msgs_b : msgs_a);
        memcpy(rec + 0, &u32, 4);
        u32 = (uint32_t)(flip ? msgs_a : msgs_b);
        memcpy(rec + 4, &u32, 4);
        f32 = (float)(flip ? sq_b : sq_a);
        memcpy(rec + 8, &f32, 4);
        f32 = (float)(flip ? sq_a : sq_b);
        memcpy(rec + 12, &f32, 4);
        for (int m = 0; m < RB_FIRST; m++) {
            /* int64 -> int16 as numpy casts it: modulo 2^16 (-(-32768) is -32768) */
            uint16_t u16 = (uint16_t)(uint64_t)(flip ? -sizes[m] : sizes[m]);
            memcpy(rec + 16 + 2 * m, &u16, 2);
        }
        for (int m = 0; m < RB_FIRST; m++) rec[32 + m] = (uint8_t)((gaps >> (4 * m)) & 15);
        memcpy(rec + 40, &pushes, 2);
        memcpy(rec + 42, c[RB_PUSH_FIRST] + 4 * s, 4);
        memcpy(rec + 46, c[RB_PUSH_LAST] + 4 * s, 4);
        memcpy(rec + 50, c[RB_PUSH_SQ] + 4 * s, 4);
        memcpy(rec + 54, c[RB_PUSH_HIST] + 8 * s, 8);
        u32 = (uint32_t)answers;
        memcpy(rec + 62, &u32, 4);
        memcpy(rec + 66, c[RB_ANSWER_DELAY] + 4 * s, 4);
        memcpy(rec + 70, c[RB_REQ_FIRST] + 4 * s, 4);
        memcpy(rec + 74, c[RB_REQ_LAST] + 4 * s, 4);
        memcpy(rec + 78, c[RB_REQ_SQ] + 4 * s, 4);
        rec[82] = (uint8_t)((client[j] != 0) != table_a);
        PyObject *blob = PyBytes_FromStringAndSize((const char *)rec, RB_SIZE);
        if (!blob) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, j, blob);
    }
done:
    release_buffers(v, 2 + RB_COLUMNS);
    return out;
}
