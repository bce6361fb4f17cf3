/*
 * minewatch's compiled helpers, each with a pure-Python twin that gives identical
 * results (tests compare them; MINEWATCH_PURE=1 forces the Python versions):
 *
 *  - record walks for the capture readers (source/walk.py): the one loop that cannot be
 *    vectorised, because each record's length says where the next one starts;
 *  - the DNS response reader (dissect/dnsparse.py);
 *  - the TLS ClientHello field reader (tls.py, parse_client_hello).
 *
 * Record walks:
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
#include <arpa/inet.h>
#include <sys/socket.h>

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

/* ---------------------------------------------------------------- DNS responses */

#define DNS_MAX_NAME 255
#define DNS_MAX_JUMPS 16

static int dns_fail(const char *why) {
    PyErr_SetString(PyExc_ValueError, why);
    return -1;
}

/* Decode the name at *pos into out (lower-case; non-ASCII bytes become U+FFFD later).
   Returns the length written, -1 on error; *pos is set past the name. */
static Py_ssize_t dns_read_name(const unsigned char *d, Py_ssize_t n, Py_ssize_t *pos,
                                unsigned char *out) {
    Py_ssize_t p = *pos, end = -1, olen = 0;
    int jumps = 0, length = 0;
    if (p >= n || p < 0)
        return dns_fail("name runs past the message");
    unsigned int size = d[p];
    while (size) {
        if (size >= 0xC0) {
            if (++jumps > DNS_MAX_JUMPS)
                return dns_fail("pointer loop");
            if (p + 1 >= n)
                return dns_fail("name runs past the message");
            if (end < 0)
                end = p + 2;
            p = ((Py_ssize_t)(size & 0x3F) << 8) | d[p + 1];
        } else if (size & 0xC0) {
            return dns_fail("bad label type");
        } else {
            length += (int)size + 1;
            if (length > DNS_MAX_NAME)
                return dns_fail("name too long");
            /* Python slices past the end silently; mirror that: copy what exists. */
            Py_ssize_t avail = n - (p + 1);
            Py_ssize_t take = (Py_ssize_t)size < avail ? (Py_ssize_t)size : (avail > 0 ? avail : 0);
            if (olen)
                out[olen++] = '.';
            for (Py_ssize_t i = 0; i < take; i++) {
                unsigned char c = d[p + 1 + i];
                out[olen++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
            }
            p += 1 + (Py_ssize_t)size;
        }
        if (p >= n || p < 0)
            return dns_fail("name runs past the message");
        size = d[p];
    }
    *pos = end >= 0 ? end : p + 1;
    return olen;
}

/* bytes -> str exactly like bytes.decode("ascii", "replace"). */
static PyObject *ascii_replace(const unsigned char *s, Py_ssize_t len) {
    Py_ssize_t extra = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (s[i] >= 0x80)
            extra++;
    if (!extra)
        return PyUnicode_FromStringAndSize((const char *)s, len);
    PyObject *text = PyUnicode_New(len, 0xFFFD);
    if (!text)
        return NULL;
    for (Py_ssize_t i = 0; i < len; i++)
        PyUnicode_WRITE(PyUnicode_KIND(text), PyUnicode_DATA(text), i, s[i] >= 0x80 ? 0xFFFD : s[i]);
    return text;
}

static Py_ssize_t dns_skip_name(const unsigned char *d, Py_ssize_t n, Py_ssize_t p) {
    for (;;) {
        if (p >= n || p < 0)
            return dns_fail("name runs past the message");
        unsigned int size = d[p];
        if (size == 0)
            return p + 1;
        if (size >= 0xC0)
            return p + 2;
        if (size & 0xC0)
            return dns_fail("bad label type");
        p += 1 + (Py_ssize_t)size;
    }
}

/* dns_response(data) -> None for a query, else (questions, cnames, ips); ValueError when
   malformed. Mirrors dissect/dnsparse.py:parse_response. */
static PyObject *dns_response(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, pos = 12;
    unsigned char name[DNS_MAX_NAME + 64];
    PyObject *questions = NULL, *cnames = NULL, *ips = NULL, *result = NULL;
    if (n < 12) {
        dns_fail("short header");
        goto done;
    }
    if (!(d[2] & 0x80)) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    unsigned int qd = ((unsigned)d[4] << 8) | d[5], an = ((unsigned)d[6] << 8) | d[7];
    questions = PyList_New(0);
    cnames = PyList_New(0);
    ips = PyList_New(0);
    if (!questions || !cnames || !ips)
        goto done;
    for (unsigned int i = 0; i < qd && i < 4; i++) {
        Py_ssize_t len = dns_read_name(d, n, &pos, name);
        if (len < 0)
            goto done;
        PyObject *q = ascii_replace(name, len);
        if (!q || PyList_Append(questions, q) < 0) {
            Py_XDECREF(q);
            goto done;
        }
        Py_DECREF(q);
        pos += 4;
    }
    for (unsigned int i = 0; i < an && i < 32; i++) {
        pos = dns_skip_name(d, n, pos);
        if (pos < 0)
            goto done;
        if (pos + 10 > n) {
            dns_fail("truncated record");
            goto done;
        }
        unsigned int rtype = ((unsigned)d[pos] << 8) | d[pos + 1];
        Py_ssize_t rdlen = ((Py_ssize_t)d[pos + 8] << 8) | d[pos + 9];
        pos += 10;
        if (pos + rdlen > n) {
            dns_fail("truncated rdata");
            goto done;
        }
        PyObject *item = NULL;
        if (rtype == 1 && rdlen == 4) {
            item = PyUnicode_FromFormat("%u.%u.%u.%u", d[pos], d[pos + 1], d[pos + 2], d[pos + 3]);
        } else if (rtype == 28 && rdlen == 16) {
            char text[64];
            if (!inet_ntop(AF_INET6, d + pos, text, sizeof text)) {
                dns_fail("bad address");
                goto done;
            }
            item = PyUnicode_FromString(text);
        } else if (rtype == 5) {
            Py_ssize_t at = pos;
            Py_ssize_t len = dns_read_name(d, n, &at, name);
            if (len < 0)
                goto done;
            PyObject *c = ascii_replace(name, len);
            if (!c || PyList_Append(cnames, c) < 0) {
                Py_XDECREF(c);
                goto done;
            }
            Py_DECREF(c);
        }
        if (item) {
            int bad = PyList_Append(ips, item) < 0;
            Py_DECREF(item);
            if (bad)
                goto done;
        } else if (PyErr_Occurred()) {
            goto done;
        }
        pos += rdlen;
    }
    result = PyTuple_Pack(3, questions, cnames, ips);
done:
    Py_XDECREF(questions);
    Py_XDECREF(cnames);
    Py_XDECREF(ips);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------ TLS ClientHello */

typedef struct {
    const unsigned char *b;
    Py_ssize_t pos, end;
} rd_t;

static int rd_u8(rd_t *r, unsigned *v) {
    if (r->pos + 1 > r->end) return -1;
    *v = r->b[r->pos++];
    return 0;
}
static int rd_u16(rd_t *r, unsigned *v) {
    if (r->pos + 2 > r->end) return -1;
    *v = ((unsigned)r->b[r->pos] << 8) | r->b[r->pos + 1];
    r->pos += 2;
    return 0;
}
/* A length-prefixed vector: returns a sub-reader, advances r. */
static int rd_vec(rd_t *r, int len_bytes, rd_t *sub) {
    unsigned n = 0, hi = 0;
    if (len_bytes == 1) {
        if (rd_u8(r, &n)) return -1;
    } else if (len_bytes == 2) {
        if (rd_u16(r, &n)) return -1;
    } else {
        if (rd_u8(r, &hi) || rd_u16(r, &n)) return -1;
        n |= hi << 16;
    }
    if (r->pos + (Py_ssize_t)n > r->end) return -1;
    sub->b = r->b;
    sub->pos = r->pos;
    sub->end = r->pos + n;
    r->pos += n;
    return 0;
}

static PyObject *u16_tuple(rd_t *r) {
    Py_ssize_t count = (r->end - r->pos) / 2;
    PyObject *t = PyTuple_New(count);
    if (!t) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        unsigned v = ((unsigned)r->b[r->pos + 2 * i] << 8) | r->b[r->pos + 2 * i + 1];
        PyTuple_SET_ITEM(t, i, PyLong_FromUnsignedLong(v));
    }
    r->pos += count * 2;
    return t;
}

static PyObject *u8_tuple(rd_t *r) {
    Py_ssize_t count = r->end - r->pos;
    PyObject *t = PyTuple_New(count);
    if (!t) return NULL;
    for (Py_ssize_t i = 0; i < count; i++)
        PyTuple_SET_ITEM(t, i, PyLong_FromUnsignedLong(r->b[r->pos + i]));
    r->pos += count;
    return t;
}

/* The list in an extension body, like tls.py _u16_list / _u8_list: () when malformed. */
static PyObject *ext_u16_list(const unsigned char *b, Py_ssize_t off, Py_ssize_t len, int len_bytes) {
    rd_t r = {b, off, off + len}, v;
    if (rd_vec(&r, len_bytes, &v)) return PyTuple_New(0);
    return u16_tuple(&v);
}
static PyObject *ext_u8_list(const unsigned char *b, Py_ssize_t off, Py_ssize_t len) {
    rd_t r = {b, off, off + len}, v;
    if (rd_vec(&r, 1, &v)) return PyTuple_New(0);
    return u8_tuple(&v);
}

static PyObject *ext_alpn(const unsigned char *b, Py_ssize_t off, Py_ssize_t len) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    rd_t r = {b, off, off + len}, protos, name;
    if (rd_vec(&r, 2, &protos) == 0) {
        while (protos.pos < protos.end) {
            if (rd_vec(&protos, 1, &name)) break;
            PyObject *v = PyBytes_FromStringAndSize((const char *)b + name.pos, name.end - name.pos);
            if (!v || PyList_Append(out, v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(v);
        }
    }
    PyObject *t = PyList_AsTuple(out);
    Py_DECREF(out);
    return t;
}

/* host name as str, exactly bytes.decode("ascii", "backslashreplace"). */
static PyObject *ascii_backslash(const unsigned char *s, Py_ssize_t len) {
    PyObject *raw = PyBytes_FromStringAndSize((const char *)s, len);
    if (!raw) return NULL;
    PyObject *text = PyUnicode_DecodeASCII(PyBytes_AS_STRING(raw), len, "backslashreplace");
    Py_DECREF(raw);
    return text;
}

static PyObject *ext_sni(const unsigned char *b, Py_ssize_t off, Py_ssize_t len) {
    rd_t r = {b, off, off + len}, names, host;
    unsigned type;
    if (rd_vec(&r, 2, &names)) Py_RETURN_NONE;
    while (names.pos < names.end) {
        if (rd_u8(&names, &type) || rd_vec(&names, 2, &host)) Py_RETURN_NONE;
        if (type == 0) return ascii_backslash(b + host.pos, host.end - host.pos);
    }
    Py_RETURN_NONE;
}

/* client_hello_fields(body) -> None when the framing is inconsistent, else
   (version, ciphers, extensions, supported_versions, groups, point_formats, sigalgs,
    alpn, sni, session_id_len, compression). Mirrors tls.py:parse_client_hello. */
static PyObject *client_hello_fields(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    rd_t r = {b, 0, view.len}, sid, ciph, comp, block, body;
    unsigned version, ext_type;
    PyObject *result = NULL, *ciphers = NULL, *compression = NULL, *types = NULL;
    /* first occurrence of the extensions we read: offset, length */
    Py_ssize_t at[6] = {-1, -1, -1, -1, -1, -1}, ln[6] = {0};
    static const unsigned wanted[6] = {43, 10, 11, 13, 16, 0};
    if (rd_u16(&r, &version) || r.pos + 32 > r.end)
        goto none;
    r.pos += 32;
    if (rd_vec(&r, 1, &sid) || rd_vec(&r, 2, &ciph) || ((ciph.end - ciph.pos) & 1))
        goto none;
    ciphers = u16_tuple(&ciph);
    if (!ciphers || rd_vec(&r, 1, &comp))
        goto none;
    compression = u8_tuple(&comp);
    types = PyList_New(0);
    if (!compression || !types)
        goto fail;
    if (r.pos < r.end) {
        if (rd_vec(&r, 2, &block))
            goto none;
        while (block.pos < block.end) {
            if (rd_u16(&block, &ext_type) || rd_vec(&block, 2, &body))
                goto none;
            PyObject *t = PyLong_FromUnsignedLong(ext_type);
            if (!t || PyList_Append(types, t) < 0) {
                Py_XDECREF(t);
                goto fail;
            }
            Py_DECREF(t);
            for (int i = 0; i < 6; i++)
                if (ext_type == wanted[i] && at[i] < 0) {
                    at[i] = body.pos;
                    ln[i] = body.end - body.pos;
                }
        }
    }
    {
        PyObject *ext_tuple = PyList_AsTuple(types);
        PyObject *sv = at[0] >= 0 ? ext_u16_list(b, at[0], ln[0], 1) : PyTuple_New(0);
        PyObject *groups = at[1] >= 0 ? ext_u16_list(b, at[1], ln[1], 2) : PyTuple_New(0);
        PyObject *formats = at[2] >= 0 ? ext_u8_list(b, at[2], ln[2]) : PyTuple_New(0);
        PyObject *sigalgs = at[3] >= 0 ? ext_u16_list(b, at[3], ln[3], 2) : PyTuple_New(0);
        PyObject *alpn = at[4] >= 0 ? ext_alpn(b, at[4], ln[4]) : PyTuple_New(0);
        PyObject *sni = NULL;
        if (at[5] >= 0) {
            sni = ext_sni(b, at[5], ln[5]);
        } else {
            sni = Py_None;
            Py_INCREF(sni);
        }
        if (ext_tuple && sv && groups && formats && sigalgs && alpn && sni)
            result = Py_BuildValue("(IOOOOOOOOnO)", version, ciphers, ext_tuple, sv, groups,
                                   formats, sigalgs, alpn, sni, sid.end - sid.pos, compression);
        Py_XDECREF(ext_tuple);
        Py_XDECREF(sv);
        Py_XDECREF(groups);
        Py_XDECREF(formats);
        Py_XDECREF(sigalgs);
        Py_XDECREF(alpn);
        Py_XDECREF(sni);
    }
    goto out;
none:
    result = Py_None;
    Py_INCREF(result);
    goto out;
fail:
    result = NULL;
out:
    Py_XDECREF(ciphers);
    Py_XDECREF(compression);
    Py_XDECREF(types);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of complete classic-pcap records."},
    {"walk_pcapng_epb", walk_pcapng_epb, METH_VARARGS, "Offsets of consecutive pcapng EPBs."},
    {"dns_response", dns_response, METH_O, "Questions, CNAMEs and addresses of a DNS response."},
    {"client_hello_fields", client_hello_fields, METH_O, "Fields of a TLS ClientHello body."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "detector._fast", "minewatch's compiled helpers.", -1, methods,
};

PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&module); }
