/*
 * detector._fast's shared includes and small helpers, for each of its compilation units
 * (the .c files of detector/csrc/, one stage each; module.c has the method table). The
 * helpers used inside hot loops are static inline here, so each unit inlines them as
 * before the split.
 */
#ifndef MINEWATCH_FAST_H
#define MINEWATCH_FAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>  /* T_OBJECT_EX, READONLY: fresh_copy reads slot members */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static inline uint32_t rd32(const unsigned char *p, int little) {
    if (little)
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Buffers of n objects, the first `readonly` read-only, the rest writable; on failure
   the ones already taken are released and -1 returned (a Python error is set). */
static inline int take_buffers(PyObject **objs, Py_buffer *v, int n, int readonly) {
    for (int k = 0; k < n; k++) {
        if (PyObject_GetBuffer(objs[k], &v[k], k < readonly ? PyBUF_SIMPLE : PyBUF_WRITABLE) < 0) {
            for (int j = 0; j < k; j++) PyBuffer_Release(&v[j]);
            return -1;
        }
    }
    return 0;
}

static inline void release_buffers(Py_buffer *v, int n) {
    for (int k = 0; k < n; k++) PyBuffer_Release(&v[k]);
}

static inline int list_append_new(PyObject *list, PyObject *item) {
    if (!item)
        return -1;
    int bad = PyList_Append(list, item);
    Py_DECREF(item);
    return bad;
}

/* A clipped offset's bytes as one unaligned load, byte-swapped where the host order
   differs: decode_batch reads a handful of fields per packet through these, and byte by
   byte (four loads, shifts and ors a 32-bit field; gcc does not merge them here) they
   were ~3 % of a scan's instructions (callgrind). */
static inline uint16_t load16(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t load32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BE16(p) __builtin_bswap16(load16(p))
#define BE32(p) __builtin_bswap32(load32(p))
#define BE64(p) __builtin_bswap64(load64(p))
#define LE16(p) load16(p)
#define LE32(p) load32(p)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BE16(p) load16(p)
#define BE32(p) load32(p)
#define BE64(p) load64(p)
#define LE16(p) __builtin_bswap16(load16(p))
#define LE32(p) __builtin_bswap32(load32(p))
#else
#define BE16(p) ((uint16_t)(((unsigned)(p)[0] << 8) | (p)[1]))
#define BE32(p) (((uint32_t)(p)[0] << 24) | ((uint32_t)(p)[1] << 16) | ((uint32_t)(p)[2] << 8) | (p)[3])
#define BE64(p) (((uint64_t)BE32(p) << 32) | BE32((p) + 4))
#define LE16(p) ((uint16_t)((p)[0] | ((unsigned)(p)[1] << 8)))
#define LE32(p) ((uint32_t)(p)[0] | ((uint32_t)(p)[1] << 8) | ((uint32_t)(p)[2] << 16) | ((uint32_t)(p)[3] << 24))
#endif

/* flowtable.STATE_* bits of the state column: flow_update and sweep_flags (flow.c) set and read
   them, inspect_cols (feed.c) reads the SYN bits. */
enum {
    ST_FIN_A = 2, ST_FIN_B = 4, ST_RST = 8, ST_SYN_A = 16, ST_SYN_B = 32,
};

/* The Python-visible functions, one unit each (module.c's method table names them);
   hidden, so the method table binds them inside this module, never to a same-named
   symbol elsewhere in the process. */
#define FAST_FN __attribute__((visibility("hidden")))

/* pcap.c */
FAST_FN PyObject *walk_pcap(PyObject *self, PyObject *args);
FAST_FN PyObject *walk_pcapng_epb(PyObject *self, PyObject *args);

/* dns.c */
FAST_FN PyObject *dns_response(PyObject *self, PyObject *arg);
FAST_FN PyObject *dns_answer_groups(PyObject *self, PyObject *args);
FAST_FN PyObject *pdns_groups(PyObject *self, PyObject *args);

/* tls.c */
FAST_FN PyObject *client_hello_key(PyObject *self, PyObject *arg);
FAST_FN PyObject *client_hello_fields(PyObject *self, PyObject *arg);
FAST_FN PyObject *server_hello_fields(PyObject *self, PyObject *arg);
FAST_FN PyObject *hello_key(PyObject *self, PyObject *fields);
FAST_FN PyObject *tls_scan(PyObject *self, PyObject *args);
FAST_FN PyObject *tls_first(PyObject *self, PyObject *arg);
FAST_FN PyObject *tls_cut_point(PyObject *self, PyObject *arg);
FAST_FN PyObject *round6(PyObject *self, PyObject *arg);
FAST_FN PyObject *keep_stack_chunks(PyObject *self, PyObject *unused);
FAST_FN PyObject *tls_whole_messages(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
FAST_FN PyObject *tls_walk_encrypted(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* http.c */
FAST_FN PyObject *http_headers(PyObject *self, PyObject *args);
FAST_FN PyObject *http_head(PyObject *self, PyObject *args);

/* decode.c */
FAST_FN PyObject *decode_batch(PyObject *self, PyObject *args);
FAST_FN PyObject *carrier_rows(PyObject *self, PyObject *args);
FAST_FN PyObject *decap_batch(PyObject *self, PyObject *args);

/* flow.c */
FAST_FN PyObject *flow_group(PyObject *self, PyObject *args);
FAST_FN PyObject *flow_behaviour(PyObject *self, PyObject *args);
FAST_FN PyObject *flow_update(PyObject *self, PyObject *args);
FAST_FN PyObject *flow_fill(PyObject *self, PyObject *args);
FAST_FN PyObject *flow_verify(PyObject *self, PyObject *args);
FAST_FN PyObject *sweep_flags(PyObject *self, PyObject *args);
FAST_FN PyObject *zero_rows(PyObject *self, PyObject *args);
FAST_FN PyObject *index_drop(PyObject *self, PyObject *args);
FAST_FN PyObject *index_merge(PyObject *self, PyObject *args);
FAST_FN PyObject *fanout_owners(PyObject *self, PyObject *args);

/* records.c */
FAST_FN PyObject *record_behaviours(PyObject *self, PyObject *args);
FAST_FN PyObject *family_keys(PyObject *self, PyObject *args);
/* Where a type keeps an attribute of a __slots__ class, for slot_attr: one per attribute
   a loop reads (static, zero: not found yet) */
typedef struct {
    PyTypeObject *type; /* a reference, or NULL */
    unsigned int version; /* the type's version tag when found: changed, look again */
    Py_ssize_t offset;
} slot_cache;
FAST_FN PyObject *slot_attr(PyObject *obj, PyObject *name, slot_cache *at);

/* trees.c */
FAST_FN PyObject *trees_raw(PyObject *self, PyObject *args);
FAST_FN PyObject *behaviour_features(PyObject *self, PyObject *args);
FAST_FN PyObject *record_rows(PyObject *self, PyObject *args);
FAST_FN PyObject *count_features(PyObject *self, PyObject *args);

/* quic.c */
FAST_FN PyObject *aes128_block_py(PyObject *self, PyObject *args);
FAST_FN PyObject *aes128_gcm_open(PyObject *self, PyObject *args);
FAST_FN PyObject *quic_client_keys(PyObject *self, PyObject *args);
FAST_FN PyObject *quic_key_iv(PyObject *self, PyObject *args);

/* feed.c */
FAST_FN PyObject *rank_within(PyObject *self, PyObject *args);
FAST_FN PyObject *round_pick(PyObject *self, PyObject *args);
FAST_FN PyObject *inspect_triage(PyObject *self, PyObject *args);
FAST_FN PyObject *inspect_cols(PyObject *self, PyObject *args);
FAST_FN PyObject *feed_packets(PyObject *self, PyObject *args);
FAST_FN PyObject *fresh_copy(PyObject *self, PyObject *proto);

#endif
