/*
 * minewatch's live-capture helper: walk one retired TPACKET_V3 block of an AF_PACKET
 * ring and copy its packets into a record batch's buffer. The pure-Python twin is
 * detector/source/afpacket.py:py_walk_block; both give identical results
 * (tests/test_afpacket.py feeds them the same synthetic blocks, malformed ones included).
 *
 * walk_block(block, out, out_pos, data_off, caplen, wirelen, ts, first, vlan, skip_out)
 *     -> (count, out_pos, status, stop_off)
 *
 *   block    the block's bytes (exactly one ring block: its size bounds every read)
 *   out      writable uint8 buffer the packets are copied to, from out_pos on
 *   data_off, caplen, wirelen: writable int64 arrays; ts: writable float64 array;
 *            entries are written from index `first` on
 *   vlan     re-insert a VLAN tag the kernel stripped (Ethernet links), as libpcap does
 *   skip_out leave out packets the socket saw leave (sll_pkttype PACKET_OUTGOING): on
 *            the loopback device each packet is seen leaving and arriving (libpcap's
 *            linux_check_direction drops the first)
 *
 *   status 0: every packet of the block was copied; count = first + packets
 *   status 1: damage at stop_off (a header or packet outside the block, a chain that
 *             does not move forward); the packets before it are kept
 *   status 3: the output (buffer or arrays) cannot hold the block's next packet at
 *             stop_off; nothing of this block is kept (count == first, out_pos
 *             unchanged), so the caller can start a new batch and walk the block again
 *
 * The block comes from the kernel, but a wrong ring size or a kernel bug must never make
 * this read or write out of bounds: every offset and length is checked against the block
 * and the output before it is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifndef __linux__
#error "detector._capture reads Linux AF_PACKET rings (optional extension: skipped here)"
#endif
#include <linux/if_packet.h>

/* Layout the walk relies on (linux/if_packet.h). */
_Static_assert(sizeof(struct tpacket3_hdr) == 48, "tpacket3_hdr is 48 bytes");
_Static_assert(sizeof(struct tpacket_block_desc) == 48, "tpacket_block_desc is 48 bytes");

#define HDR_LEN 48u  /* struct tpacket3_hdr */
/* TPACKET3_HDRLEN: the header, then the struct sockaddr_ll; a packet's data follows */
#define SLL_AT 48u
#define MIN_MAC (SLL_AT + 20u)
#define PKTTYPE_AT (SLL_AT + 10u) /* offsetof(struct sockaddr_ll, sll_pkttype) */
#define DESC_LEN 48u /* struct tpacket_block_desc */
#define ETH_ALEN2 12u
#define VLAN_TAG_LEN 4u
#define ETH_P_8021Q 0x8100u

enum { WALK_OK = 0, WALK_DAMAGE = 1, WALK_FULL = 3 };

typedef struct {
    const unsigned char *block;
    uint64_t len;
    unsigned char *out;
    uint64_t out_len;
    int64_t *data_off, *caplen, *wirelen;
    double *ts;
    uint64_t cap; /* entries the arrays hold */
} walk_io;

/* Walk the block; returns the status, sets *n and *pos (committed count and position)
   and *stop. */
static int walk(const walk_io *io, uint64_t first, uint64_t pos0, int vlan, int skip_out,
                uint64_t *n_out, uint64_t *pos_out, uint64_t *stop) {
    const uint64_t L = io->len;
    uint64_t n = first, pos = pos0;
    *n_out = first;
    *pos_out = pos0;
    *stop = 0;
    if (L < DESC_LEN)
        return WALK_DAMAGE; /* stop_off 0: the block descriptor itself */
    struct tpacket_block_desc desc;
    memcpy(&desc, io->block, sizeof desc);
    uint64_t num = desc.hdr.bh1.num_pkts;
    uint64_t off = desc.hdr.bh1.offset_to_first_pkt;
    for (uint64_t i = 0; i < num; i++) {
        *stop = off;
        if (off < DESC_LEN || off > L - HDR_LEN)
            goto damage;
        struct tpacket3_hdr h;
        memcpy(&h, io->block + off, sizeof h);
        const int last = i + 1 == num;
        uint64_t next = h.tp_next_offset;
        if (!last && (next < HDR_LEN || next > L - off))
            goto damage;
        /* the packet lies within its own slot: up to the next header, or the block end */
        uint64_t room = last ? L - off : next;
        uint64_t mac = h.tp_mac, snap = h.tp_snaplen;
        if (mac < MIN_MAC || mac > room || snap > room - mac)
            goto damage;
        if (skip_out && io->block[off + PKTTYPE_AT] == PACKET_OUTGOING) {
            if (!last)
                off += next;
            continue;
        }
        /* libpcap's VLAN_VALID and VLAN_TPID (pcap-linux.c) */
        int tag = vlan && snap >= ETH_ALEN2 &&
                  (h.hv1.tp_vlan_tci != 0 || (h.tp_status & TP_STATUS_VLAN_VALID));
        uint64_t need = snap + (tag ? VLAN_TAG_LEN : 0);
        if (n >= io->cap || pos > io->out_len || need > io->out_len - pos)
            return WALK_FULL; /* nothing of the block committed (n_out, pos_out as given) */
        const unsigned char *src = io->block + off + mac;
        unsigned char *dst = io->out + pos;
        if (tag) {
            uint16_t tpid = (h.hv1.tp_vlan_tpid || (h.tp_status & TP_STATUS_VLAN_TPID_VALID))
                                ? h.hv1.tp_vlan_tpid
                                : ETH_P_8021Q;
            uint16_t tci = (uint16_t)h.hv1.tp_vlan_tci;
            memcpy(dst, src, ETH_ALEN2);
            dst[12] = (unsigned char)(tpid >> 8);
            dst[13] = (unsigned char)tpid;
            dst[14] = (unsigned char)(tci >> 8);
            dst[15] = (unsigned char)tci;
            memcpy(dst + ETH_ALEN2 + VLAN_TAG_LEN, src + ETH_ALEN2, snap - ETH_ALEN2);
        } else {
            memcpy(dst, src, snap);
        }
        io->data_off[n] = (int64_t)pos;
        io->caplen[n] = (int64_t)need;
        io->wirelen[n] = (int64_t)h.tp_len + (tag ? VLAN_TAG_LEN : 0);
        io->ts[n] = (double)h.tp_sec + (double)h.tp_nsec / 1e9;
        n++;
        pos += need;
        if (!last)
            off += next;
    }
    *n_out = n;
    *pos_out = pos;
    *stop = L;
    return WALK_OK;
damage: /* the packets before the damage are kept */
    *n_out = n;
    *pos_out = pos;
    return WALK_DAMAGE;
}

static int take(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize) {
    int flags = writable ? (PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) : PyBUF_SIMPLE;
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (writable && view->itemsize != itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "expected items of %zd bytes", itemsize);
        return -1;
    }
    return 0;
}

static PyObject *walk_block(PyObject *self, PyObject *args) {
    PyObject *objs[7];
    Py_ssize_t out_pos, first;
    int vlan, skip_out;
    if (!PyArg_ParseTuple(args, "OOnOOOOnpp", &objs[0], &objs[1], &out_pos, &objs[2], &objs[3],
                          &objs[4], &objs[5], &first, &vlan, &skip_out))
        return NULL;
    static const Py_ssize_t sizes[6] = {1, 1, 8, 8, 8, 8};
    Py_buffer v[6];
    for (int k = 0; k < 6; k++) {
        if (take(objs[k], &v[k], k > 0, sizes[k]) < 0) {
            for (int j = 0; j < k; j++)
                PyBuffer_Release(&v[j]);
            return NULL;
        }
    }
    PyObject *result = NULL;
    Py_ssize_t cap = v[2].len / 8;
    if (v[3].len / 8 < cap) cap = v[3].len / 8;
    if (v[4].len / 8 < cap) cap = v[4].len / 8;
    if (v[5].len / 8 < cap) cap = v[5].len / 8;
    if (out_pos < 0 || out_pos > v[1].len || first < 0 || first > cap) {
        PyErr_SetString(PyExc_ValueError, "out_pos or first outside the output");
        goto done;
    }
    walk_io io = {
        .block = v[0].buf, .len = (uint64_t)v[0].len,
        .out = v[1].buf, .out_len = (uint64_t)v[1].len,
        .data_off = v[2].buf, .caplen = v[3].buf, .wirelen = v[4].buf, .ts = v[5].buf,
        .cap = (uint64_t)cap,
    };
    uint64_t n, pos, stop;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = walk(&io, (uint64_t)first, (uint64_t)out_pos, vlan, skip_out, &n, &pos, &stop);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(KKiK)", (unsigned long long)n, (unsigned long long)pos, status,
                           (unsigned long long)stop);
done:
    for (int k = 0; k < 6; k++)
        PyBuffer_Release(&v[k]);
    return result;
}

static PyMethodDef methods[] = {
    {"walk_block", walk_block, METH_VARARGS, "Copy the packets of one TPACKET_V3 block."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_capture", NULL, -1, methods};

PyMODINIT_FUNC PyInit__capture(void) { return PyModule_Create(&module); }
