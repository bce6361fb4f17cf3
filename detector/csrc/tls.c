/* TLS: ClientHello and ServerHello fields (twin: dissect/tls/hello.py), the record
   walk (tls_scan, tls_first, tls_cut_point) and the hello fingerprint cache key (twin:
   dissect/tls/flow.py). */

#include "fast.h"

/* ------------------------------------------------------------ TLS ClientHello */

/* A protocol version as an int, those of SSL 3.0 to TLS 1.3 (0x0300-0x0304) made once
   and shared: every hello has one or two (its record's and its own), and CPython keeps
   only the ints up to 256. */
static PyObject *version_long(unsigned v) {
    static PyObject *known[5];
    if (v - 0x0300u > 4u)
        return PyLong_FromUnsignedLong(v);
    PyObject **slot = &known[v - 0x0300u];
    if (!*slot && !(*slot = PyLong_FromUnsignedLong(v)))
        return NULL;
    Py_INCREF(*slot);
    return *slot;
}

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

/* The list in an extension body, like dissect/tls/hello.py _u16_list / _u8_list: () when
   malformed. */
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

/* The protocol names of an ALPN extension body, as a tuple of bytes (those before a
   malformed one). Counted first, then the tuple filled: a list grown and copied into a
   tuple cost more for the hellos of every TLS flow. */
static PyObject *ext_alpn(const unsigned char *b, Py_ssize_t off, Py_ssize_t len) {
    rd_t r = {b, off, off + len}, protos = {b, 0, 0}, name;
    Py_ssize_t count = 0;
    if (rd_vec(&r, 2, &protos) == 0) {
        rd_t walk = protos;
        while (walk.pos < walk.end && rd_vec(&walk, 1, &name) == 0)
            count++;
    }
    PyObject *t = PyTuple_New(count);
    if (!t) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        rd_vec(&protos, 1, &name); /* read above: cannot fail */
        PyObject *v = PyBytes_FromStringAndSize((const char *)b + name.pos, name.end - name.pos);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* host name as str, exactly bytes.decode("ascii", "backslashreplace"). */
static PyObject *ascii_backslash(const unsigned char *s, Py_ssize_t len) {
    return PyUnicode_DecodeASCII((const char *)s, len, "backslashreplace");
}

/* The host name of a server_name extension at off (None when absent: off < 0, or no
   host name in it). */
static PyObject *ext_sni(const unsigned char *b, Py_ssize_t off, Py_ssize_t len) {
    if (off < 0) Py_RETURN_NONE;
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
    alpn, sni, session_id_len, compression). Mirrors
    dissect/tls/hello.py:parse_client_hello. */
static PyObject *ch_fields(const unsigned char *b, Py_ssize_t len) {
    rd_t r = {b, 0, len}, sid, ciph, comp, block, body;
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
        PyObject *sni = ext_sni(b, at[5], ln[5]);
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
    return result;
}

/* ch_key(body): what tls_first hands over for a ClientHello - None where ch_fields is None
   (the same reads, in the same order, fail), else (key, sni, alpn): key is
   hello_key(ch_fields(body)), written straight from the bytes, and sni and alpn are
   ch_fields' own. The first-packet path needs no more of a hello whose fingerprints are
   cached (nearly all: a network has few TLS stacks); building every field's tuple of ints
   for hello_key to read was ~70 % of reading a hello (callgrind, real-1m). A cache miss
   reads the fields from the hello's body (FirstPackets.take). */
static void key_put(unsigned char **w, unsigned v) {
    if ((v & 0x0F0F) == 0x0A0A && (v >> 8) == (v & 0xFF))
        v = 0x0A0A; /* GREASE, folded as hello_key folds it */
    *(*w)++ = (unsigned char)(v >> 8);
    *(*w)++ = (unsigned char)v;
}
/* A u16 list (count, then values) from the vector of an extension body, as ext_u16_list
   reads it (an unreadable vector: the empty list). */
static void key_ext_u16(unsigned char **w, const unsigned char *b, Py_ssize_t at, Py_ssize_t len,
                        int len_bytes) {
    rd_t r = {b, at, at + len}, v = {b, 0, 0};
    if (at < 0 || rd_vec(&r, len_bytes, &v))
        v.pos = v.end = 0;
    Py_ssize_t count = (v.end - v.pos) / 2;
    *(*w)++ = (unsigned char)(count >> 8);
    *(*w)++ = (unsigned char)count;
    for (Py_ssize_t i = 0; i < count; i++)
        key_put(w, ((unsigned)b[v.pos + 2 * i] << 8) | b[v.pos + 2 * i + 1]);
}
static void key_alpn_name(unsigned char **w, PyObject *name) {
    Py_ssize_t n = PyBytes_GET_SIZE(name);
    *(*w)++ = (unsigned char)(n >> 8);
    *(*w)++ = (unsigned char)n;
    memcpy(*w, PyBytes_AS_STRING(name), (size_t)n);
    *w += n;
}
static PyObject *ch_key(const unsigned char *b, Py_ssize_t len) {
    rd_t r = {b, 0, len}, sid, ciph, comp, block = {b, 0, 0}, body;
    unsigned version, ext_type;
    Py_ssize_t at[6] = {-1, -1, -1, -1, -1, -1}, ln[6] = {0}, exts = 0;
    static const unsigned wanted[6] = {43, 10, 11, 13, 16, 0};
    if (rd_u16(&r, &version) || r.pos + 32 > r.end)
        Py_RETURN_NONE;
    r.pos += 32;
    if (rd_vec(&r, 1, &sid) || rd_vec(&r, 2, &ciph) || ((ciph.end - ciph.pos) & 1) ||
        rd_vec(&r, 1, &comp))
        Py_RETURN_NONE;
    if (r.pos < r.end) {
        if (rd_vec(&r, 2, &block))
            Py_RETURN_NONE;
        rd_t walk = block;
        while (walk.pos < walk.end) {
            if (rd_u16(&walk, &ext_type) || rd_vec(&walk, 2, &body))
                Py_RETURN_NONE;
            exts++;
            for (int i = 0; i < 6; i++)
                if (ext_type == wanted[i] && at[i] < 0) {
                    at[i] = body.pos;
                    ln[i] = body.end - body.pos;
                }
        }
    }
    PyObject *alpn = at[4] >= 0 ? ext_alpn(b, at[4], ln[4]) : PyTuple_New(0);
    if (!alpn)
        return NULL;
    PyObject *sni = ext_sni(b, at[5], ln[5]);
    if (!sni) {
        Py_DECREF(alpn);
        return NULL;
    }
    /* Every value below comes from at least one byte of the body (a point format: one),
       every count from a length field or an extension header: 4 * len + 64 bounds it.
       Written on the stack when that fits (nearly every hello), then copied into a bytes
       object of its size: a bytes object of the bound, then shrunk, was a malloc and a
       realloc (and a free) per hello. */
    unsigned char stack_key[4096], *heap_key = NULL;
    if (4 * len + 64 > (Py_ssize_t)sizeof stack_key && !(heap_key = PyMem_Malloc(4 * len + 64))) {
        Py_DECREF(alpn);
        Py_DECREF(sni);
        return PyErr_NoMemory();
    }
    unsigned char *w = heap_key ? heap_key : stack_key, *start = w;
    key_put(&w, version);
    Py_ssize_t count = (ciph.end - ciph.pos) / 2;
    *w++ = (unsigned char)(count >> 8);
    *w++ = (unsigned char)count;
    for (Py_ssize_t i = 0; i < count; i++)
        key_put(&w, ((unsigned)b[ciph.pos + 2 * i] << 8) | b[ciph.pos + 2 * i + 1]);
    *w++ = (unsigned char)(exts >> 8);
    *w++ = (unsigned char)exts;
    while (block.pos < block.end) { /* read whole above: cannot fail */
        rd_u16(&block, &ext_type);
        rd_vec(&block, 2, &body);
        key_put(&w, ext_type);
    }
    key_ext_u16(&w, b, at[0], ln[0], 1); /* supported versions */
    key_ext_u16(&w, b, at[1], ln[1], 2); /* groups */
    key_ext_u16(&w, b, at[3], ln[3], 2); /* signature algorithms */
    {                                    /* point formats: u8 values (never GREASE) */
        rd_t fr = {b, at[2], at[2] + ln[2]}, v = {b, 0, 0};
        if (at[2] < 0 || rd_vec(&fr, 1, &v))
            v.pos = v.end = 0;
        Py_ssize_t nf = v.end - v.pos;
        *w++ = (unsigned char)(nf >> 8);
        *w++ = (unsigned char)nf;
        for (Py_ssize_t i = 0; i < nf; i++) {
            *w++ = 0;
            *w++ = b[v.pos + i];
        }
    }
    Py_ssize_t names = PyTuple_GET_SIZE(alpn);
    if (names == 0) {
        *w++ = 0xFF;
        *w++ = 0xFF;
    } else {
        key_alpn_name(&w, PyTuple_GET_ITEM(alpn, 0));
        key_alpn_name(&w, PyTuple_GET_ITEM(alpn, names - 1));
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)start, w - start);
    PyMem_Free(heap_key);
    if (!key) {
        Py_DECREF(alpn);
        Py_DECREF(sni);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(3, key, sni, alpn);
    Py_DECREF(key);
    Py_DECREF(sni);
    Py_DECREF(alpn);
    return result;
}

/* reader(bytes) on a bytes-like object's buffer: what each module-level hello reader
   below is, around the function that reads a message body from its pointer and length. */
static PyObject *on_buffer(PyObject *arg,
                           PyObject *(*reader)(const unsigned char *, Py_ssize_t)) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = reader((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return result;
}

/* client_hello_key(body): ch_key's answer, for its twin test (tests/test_tls_scan_twin.py). */
PyObject *client_hello_key(PyObject *self, PyObject *arg) {
    return on_buffer(arg, ch_key);
}

PyObject *client_hello_fields(PyObject *self, PyObject *arg) {
    return on_buffer(arg, ch_fields);
}

/* ------------------------------------------------------------ TLS ServerHello */

static const unsigned char HRR_RANDOM[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* (version, selected_version or None, cipher, compression, extensions, alpn or None,
   hello_retry), or None when the framing is inconsistent. Mirrors
   dissect/tls/hello.py:py_parse_server_hello. The extension block is walked twice: once
   to check its framing and count its extensions, then to fill their tuple (a list grown
   and copied into a tuple cost more, for the ServerHello of every TLS flow). */
static PyObject *sh_fields(const unsigned char *b, Py_ssize_t len) {
    rd_t r = {b, 0, len}, sid, block = {b, 0, 0}, body;
    unsigned version, cipher, compression, ext_type;
    if (rd_u16(&r, &version) || r.pos + 32 > r.end)
        Py_RETURN_NONE;
    int hrr = memcmp(b + r.pos, HRR_RANDOM, 32) == 0;
    r.pos += 32;
    if (rd_vec(&r, 1, &sid) || rd_u16(&r, &cipher) || rd_u8(&r, &compression))
        Py_RETURN_NONE;
    Py_ssize_t count = 0;
    if (r.pos < r.end) {
        if (rd_vec(&r, 2, &block))
            Py_RETURN_NONE;
        rd_t walk = block;
        while (walk.pos < walk.end) {
            if (rd_u16(&walk, &ext_type) || rd_vec(&walk, 2, &body))
                Py_RETURN_NONE;
            count++;
        }
    }
    PyObject *types = PyTuple_New(count), *selected = NULL, *alpn = NULL, *result = NULL;
    if (!types)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        rd_u16(&block, &ext_type); /* read above: cannot fail */
        rd_vec(&block, 2, &body);
        PyObject *t = PyLong_FromUnsignedLong(ext_type);
        if (!t)
            goto done;
        PyTuple_SET_ITEM(types, i, t);
        Py_ssize_t blen = body.end - body.pos;
        if (ext_type == 43 && !selected && blen >= 2) {
            selected = PyLong_FromUnsignedLong(((unsigned)b[body.pos] << 8) | b[body.pos + 1]);
            if (!selected)
                goto done;
        } else if (ext_type == 16 && !alpn) {
            PyObject *names = ext_alpn(b, body.pos, blen);
            if (!names)
                goto done;
            if (PyTuple_GET_SIZE(names)) {
                alpn = PyTuple_GET_ITEM(names, 0);
                Py_INCREF(alpn);
            }
            Py_DECREF(names);
        }
    }
    { /* (PyTuple_Pack: Py_BuildValue's format walk cost ~3 times more) */
        PyObject *v = version_long(version), *c = PyLong_FromUnsignedLong(cipher),
                 *k = PyLong_FromUnsignedLong(compression);
        if (v && c && k)
            result = PyTuple_Pack(7, v, selected ? selected : Py_None, c, k, types,
                                  alpn ? alpn : Py_None, hrr ? Py_True : Py_False);
        Py_XDECREF(v);
        Py_XDECREF(c);
        Py_XDECREF(k);
    }
done:
    Py_DECREF(types);
    Py_XDECREF(selected);
    Py_XDECREF(alpn);
    return result;
}

PyObject *server_hello_fields(PyObject *self, PyObject *arg) {
    return on_buffer(arg, sh_fields);
}

/* ------------------------------------------------------------------ TLS records */
/* tls_scan(data, encrypted) -> (consumed, records, encrypted, events)

   The common case of records.TLSStream.feed, for a stream that stands at a record boundary
   with nothing buffered: walk the complete records at the start of ``data`` and return
   the events TLSStream would produce for them, stopping before the first record it
   cannot take whole - an incomplete or invalid record, a handshake message that
   continues past its record, a handshake record after encryption began - which
   TLSStream then parses itself. Events: (1, record_version, ClientHello fields),
   (2, record_version, ServerHello fields), (11, Certificate body), (23, length),
   (21, level, description) with None, None once encrypted or when cut short. */
/* hello_key(fields): the ClientHello fingerprint cache key (dissect/tls/flow.py) from the
   fields tuple ch_fields returns - legacy version, ciphers, extension types, supported
   versions, groups, signature algorithms (each GREASE value as 0x0a0a: fingerprints drop
   GREASE, and browsers pick fresh GREASE values per connection, which would otherwise
   make every hello a cache miss), point formats, first and last ALPN value - as bytes.
   dissect/tls/hello.py's py_hello_key is its twin. */
static int key_u16(PyObject *seq, unsigned char **w, unsigned char *end) {
    if (!PyTuple_Check(seq))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (*w + 2 + 2 * n > end)
        return -1;
    *(*w)++ = (unsigned char)(n >> 8);
    *(*w)++ = (unsigned char)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(seq, i));
        if (v < 0 || v > 0xFFFF)
            return -1;
        if ((v & 0x0F0F) == 0x0A0A && (v >> 8) == (v & 0xFF))
            v = 0x0A0A;
        *(*w)++ = (unsigned char)(v >> 8);
        *(*w)++ = (unsigned char)v;
    }
    return 0;
}

static int key_bytes(PyObject *value, unsigned char **w, unsigned char *end) {
    if (!PyBytes_Check(value))
        return -1;
    Py_ssize_t n = PyBytes_GET_SIZE(value);
    if (n > 0xFFFE || *w + 2 + n > end)
        return -1;
    *(*w)++ = (unsigned char)(n >> 8);
    *(*w)++ = (unsigned char)n;
    memcpy(*w, PyBytes_AS_STRING(value), (size_t)n);
    *w += n;
    return 0;
}

PyObject *hello_key(PyObject *self, PyObject *fields) {
    if (!PyTuple_Check(fields) || PyTuple_GET_SIZE(fields) < 8) {
        PyErr_SetString(PyExc_TypeError, "hello_key takes a ClientHello fields tuple");
        return NULL;
    }
    Py_ssize_t need = 64;
    for (int k = 1; k <= 7; k++) {
        PyObject *item = PyTuple_GET_ITEM(fields, k);
        if (!PyTuple_Check(item))
            goto bad;
        need += 2 + 2 * PyTuple_GET_SIZE(item);
        if (k == 7)
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(item); i++) {
                PyObject *name = PyTuple_GET_ITEM(item, i);
                if (!PyBytes_Check(name))
                    goto bad;
                need += 2 + PyBytes_GET_SIZE(name);
            }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, need);
    if (!out)
        return NULL;
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out), *start = w, *end = w + need;
    long version = PyLong_AsLong(PyTuple_GET_ITEM(fields, 0));
    PyObject *formats = PyTuple_GET_ITEM(fields, 5), *alpn = PyTuple_GET_ITEM(fields, 7);
    int bad = version < 0 || version > 0xFFFF;
    if (!bad) {
        *w++ = (unsigned char)(version >> 8);
        *w++ = (unsigned char)version;
        bad = key_u16(PyTuple_GET_ITEM(fields, 1), &w, end) ||
              key_u16(PyTuple_GET_ITEM(fields, 2), &w, end) ||
              key_u16(PyTuple_GET_ITEM(fields, 3), &w, end) ||
              key_u16(PyTuple_GET_ITEM(fields, 4), &w, end) ||
              key_u16(PyTuple_GET_ITEM(fields, 6), &w, end) ||
              key_u16(formats, &w, end);  /* u8 values, never GREASE */
    }
    if (!bad) {
        Py_ssize_t n = PyTuple_GET_SIZE(alpn);
        if (n == 0) {
            *w++ = 0xFF;
            *w++ = 0xFF;
        } else {
            bad = key_bytes(PyTuple_GET_ITEM(alpn, 0), &w, end) ||
                  key_bytes(PyTuple_GET_ITEM(alpn, n - 1), &w, end);
        }
    }
    if (bad || PyErr_Occurred()) {
        Py_DECREF(out);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "hello_key: a field out of range");
        return NULL;
    }
    if (_PyBytes_Resize(&out, w - start) < 0)
        return NULL;
    return out;
bad:
    PyErr_SetString(PyExc_TypeError, "hello_key takes a ClientHello fields tuple");
    return NULL;
}

/* Append a new reference to a tls_first kind list, made at its first event (most
   packets hold one or two kinds of the four: the empty ones are the empty tuple). */
static int kind_append(PyObject **list, PyObject *item) {
    if (!item)
        return -1;
    if (!*list && !(*list = PyList_New(0))) {
        Py_DECREF(item);
        return -1;
    }
    return list_append_new(*list, item);
}

/* The TLS record header at p (5 bytes): its length, or -1 if no walk here takes it as a
   record - a content type outside 20..24, a major version other than 3, or a length past
   2^14 + 2048 (the most any record may carry). tls_records, tls_first and
   tls_walk_encrypted all judge a header by this. */
static inline Py_ssize_t tls_header_length(const unsigned char *p) {
    Py_ssize_t length = ((Py_ssize_t)p[3] << 8) | p[4];
    return p[0] < 20 || p[0] > 24 || p[1] != 3 || length > 16384 + 2048 ? -1 : length;
}

/* The record walk shared by tls_scan and tls_first: complete records from the start of
   b, stopping at the first that is cut, invalid, or a handshake record whose messages do
   not all lie whole inside it (or comes after encryption began). Each event goes to
   `events` in stream order (tls_scan) or, when `events` is NULL, to kind[0..3] =
   ClientHellos (version, key, sni, alpn, body: see ch_key), ServerHellos (version,
   fields), Certificate bodies,
   application-data lengths (tls_first; alerts are not needed there; each list made at its
   first event, kind_append). Returns the offset where it stopped, or -1 with a Python
   error set. */
static Py_ssize_t tls_records(const unsigned char *b, Py_ssize_t n, int *encrypted,
                              Py_ssize_t *records, PyObject *events, PyObject **kind,
                              int *in_order) {
    Py_ssize_t pos = 0;
    int last_kind = 0; /* kind mode: kinds must come in 0..3 order (see tls_first) */
    while (pos + 5 <= n) {
        unsigned ctype = b[pos], version = ((unsigned)b[pos + 1] << 8) | b[pos + 2];
        Py_ssize_t length = tls_header_length(b + pos);
        if (length < 0)
            break;
        Py_ssize_t body = pos + 5, end = body + length;
        if (end > n)
            break;
        if (ctype == 22) {
            if (*encrypted)
                break;
            /* every message must lie whole inside this record */
            Py_ssize_t m = body;
            int whole = 1;
            while (m < end) {
                if (m + 4 > end) { whole = 0; break; }
                Py_ssize_t mlen = ((Py_ssize_t)b[m + 1] << 16) | ((Py_ssize_t)b[m + 2] << 8) | b[m + 3];
                if (m + 4 + mlen > end) { whole = 0; break; }
                m += 4 + mlen;
            }
            if (!whole)
                break;
            for (m = body; m < end;) {
                unsigned mtype = b[m];
                Py_ssize_t mlen = ((Py_ssize_t)b[m + 1] << 16) | ((Py_ssize_t)b[m + 2] << 8) | b[m + 3];
                PyObject *event = NULL, *sink = events, **ksink = NULL;
                if (mtype == 1 && !events) {
                    /* tls_first: (record version, key, sni, alpn, body) - see ch_key */
                    PyObject *read = ch_key(b + m + 4, mlen);
                    if (!read)
                        return -1;
                    if (read != Py_None) {
                        PyObject *rv = version_long(version);
                        PyObject *body = PyBytes_FromStringAndSize((const char *)b + m + 4, mlen);
                        if (rv && body)
                            event = PyTuple_Pack(5, rv, PyTuple_GET_ITEM(read, 0),
                                                 PyTuple_GET_ITEM(read, 1), PyTuple_GET_ITEM(read, 2), body);
                        Py_XDECREF(rv);
                        Py_XDECREF(body);
                    }
                    Py_DECREF(read);
                    if (read != Py_None && !event)
                        return -1;
                    ksink = &kind[0];
                    if (0 < last_kind)
                        *in_order = 0;
                    last_kind = 0;
                } else if (mtype == 1 || mtype == 2) {
                    PyObject *fields = mtype == 1 ? ch_fields(b + m + 4, mlen) : sh_fields(b + m + 4, mlen);
                    if (!fields)
                        return -1;
                    if (fields != Py_None && events) {
                        event = Py_BuildValue("(IIO)", mtype, version, fields);
                    } else if (fields != Py_None) {
                        PyObject *rv = version_long(version);
                        event = rv ? PyTuple_Pack(2, rv, fields) : NULL;
                        Py_XDECREF(rv);
                    }
                    Py_DECREF(fields);
                    if (fields != Py_None && !event)
                        return -1;
                    if (!events) {
                        ksink = &kind[mtype - 1];
                        if ((int)mtype - 1 < last_kind)
                            *in_order = 0;
                        last_kind = (int)mtype - 1;
                    }
                } else if (mtype == 11) {
                    event = events ? Py_BuildValue("(Iy#)", mtype, (const char *)b + m + 4, mlen)
                                   : PyBytes_FromStringAndSize((const char *)b + m + 4, mlen);
                    if (!event)
                        return -1;
                    if (!events) {
                        ksink = &kind[2];
                        if (2 < last_kind)
                            *in_order = 0;
                        last_kind = 2;
                    }
                }
                if (event && (events ? list_append_new(sink, event) : kind_append(ksink, event)) < 0)
                    return -1;
                m += 4 + mlen;
            }
        } else if (ctype == 23) {
            *encrypted = 1;
            if (!events)
                last_kind = 3;
            if ((events ? list_append_new(events, Py_BuildValue("(In)", 23u, length))
                        : kind_append(&kind[3], PyLong_FromSsize_t(length))) < 0)
                return -1;
        } else if (ctype == 20) {
            *encrypted = 1;
        } else if (ctype == 21 && events) {
            PyObject *event = (!*encrypted && length >= 2)
                                  ? Py_BuildValue("(III)", 21u, (unsigned)b[body], (unsigned)b[body + 1])
                                  : Py_BuildValue("(IOO)", 21u, Py_None, Py_None);
            if (list_append_new(events, event) < 0)
                return -1;
        }
        (*records)++;
        pos = end;
    }
    return pos;
}

PyObject *tls_scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    int encrypted;
    if (!PyArg_ParseTuple(args, "y*p", &view, &encrypted))
        return NULL;
    Py_ssize_t records = 0;
    PyObject *events = PyList_New(0), *result = NULL;
    if (events) {
        Py_ssize_t pos = tls_records((const unsigned char *)view.buf, view.len, &encrypted,
                                     &records, events, NULL, NULL);
        if (pos >= 0)
            result = Py_BuildValue("(nnOO)", pos, records, encrypted ? Py_True : Py_False, events);
    }
    Py_XDECREF(events);
    PyBuffer_Release(&view);
    return result;
}

/* tls_first(data): the first packet of one side of a TLS flow, read whole, for the
   inspector's first-packet path (dissect/tls/flow.py FirstPackets.take). None unless the
   packet starts like TLS (Tls.probe says yes), its records can all be told without the
   byte-wise parser, and its events come in the order a flight has them - client hellos,
   server hellos, certificates, application data - so that taking them kind by kind
   leaves the facts (and the order of their keys) that stream order would; then
   (client hellos, server hellos, certificate bodies, application-data lengths,
   encrypted), each list in stream order (tests compare it with the stream parser), a
   kind the packet has none of as the empty tuple (a list made and freed for each of the
   ~50,000 empty kinds of the real-traffic bench input's first packets cost more than
   the test); a client hello as (record version, fingerprint key, sni, alpn, body) -
   ch_key.
   Anything else is None: the general path reads it. */
PyObject *tls_first(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, records = 0;
    PyObject *kind[4] = {NULL, NULL, NULL, NULL}, *result = NULL;
    int encrypted = 0;
    if (n < 3 || !(b[0] >= 20 && b[0] <= 23) || b[1] != 3 || b[2] > 4) {
        result = Py_None;  /* not a TLS start: the general path decides */
        Py_INCREF(result);
        goto out;
    }
    int in_order = 1;
    Py_ssize_t pos = tls_records(b, n, &encrypted, &records, NULL, kind, &in_order);
    if (pos < 0)
        goto out;
    if (!in_order) {  /* taken kind by kind, facts would be listed in another order */
        result = Py_None;
        Py_INCREF(result);
        goto out;
    }
    if (n - pos >= 5) {  /* a record the walk stopped at: only a cut non-handshake one is fine */
        unsigned ctype = b[pos];
        Py_ssize_t length = tls_header_length(b + pos);
        if (length < 0 || pos + 5 + length <= n || ctype == 22) {
            result = Py_None;
            Py_INCREF(result);
            goto out;
        }
        if (ctype == 23) {
            if (kind_append(&kind[3], PyLong_FromSsize_t(length)) < 0)
                goto out;
            encrypted = 1;
        } else if (ctype == 20) {
            encrypted = 1;
        }
    }
    {  /* (PyTuple_Pack: Py_BuildValue's format walk was ~600 instructions a call) */
        PyObject *none = PyTuple_New(0); /* the empty tuple: no list for a kind not seen */
        if (none)
            result = PyTuple_Pack(5, kind[0] ? kind[0] : none, kind[1] ? kind[1] : none,
                                  kind[2] ? kind[2] : none, kind[3] ? kind[3] : none,
                                  encrypted ? Py_True : Py_False);
        Py_XDECREF(none);
    }
out:
    for (int k = 0; k < 4; k++)
        Py_XDECREF(kind[k]);
    PyBuffer_Release(&view);
    return result;
}


/* tls_cut_point(data) -> (pos, m) | None: where data's last record, a handshake record
   cut short, starts, and where its whole messages end; None if the last record is not
   such a record. dissect/tls/flow.py's py_cut_point, its twin, says why; the TLS
   first-packet path asks it for most held server flights (a certificate over a few
   packets), and its byte-by-byte walk in Python was ~3,000 instructions a call. */
PyObject *tls_cut_point(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, pos = 0, end = 0;
    int cut = 0;
    while (pos + 5 <= n) {
        end = pos + 5 + (((Py_ssize_t)d[pos + 3] << 8) | d[pos + 4]);
        if (end > n) {
            cut = 1;
            break;
        }
        pos = end;
    }
    PyObject *result;
    if (!cut || d[pos] != 22 || d[pos + 1] != 3 || end - pos - 5 > 16384 + 2048) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        Py_ssize_t m = pos + 5;
        while (m + 4 <= n) {
            Py_ssize_t following =
                m + 4 + (((Py_ssize_t)d[m + 1] << 16) | ((Py_ssize_t)d[m + 2] << 8) | d[m + 3]);
            if (following > n)
                break;
            m = following;
        }
        result = Py_BuildValue("(nn)", pos, m);
    }
    PyBuffer_Release(&view);
    return result;
}


/* round6(x) -> round(x, 6), the same float (or, for anything but a float, round's own
   answer). The first-packet path keeps each application-data record's time rounded to the
   microsecond (dissect/tls/flow.py _app_data), and Python's round(x, 6) goes through
   _Py_dg_dtoa, a formatted string and _Py_dg_strtod: some 7,000 instructions a call,
   45 M of a scan of the real-traffic bench input (callgrind). round(x, 6) is the double
   nearest to x's exact value rounded to six decimals, ties to even; for
   1e-280 <= |x| < 4e9 (every capture time until 2096) that is this: y = x * 1e6 and its
   exact error e (fma) give the exact product y + e; y < 2^52, so y - floor(y) is exact
   and a multiple of ulp(y), and |e| <= ulp(y) / 2 tips only an exact .5; the integer r
   so rounded, divided by 1e6, is the double nearest r / 10^6, as strtod of r's digits
   is. 0 and -0 are their own rounding; elsewhere (nan, inf, ints) Python's round
   answers. tests/test_tls_scan_twin.py compares it with round on edge cases and random
   times. */
PyObject *round6(PyObject *self, PyObject *arg) {
    (void)self;
    if (PyFloat_CheckExact(arg)) {
        double x = PyFloat_AS_DOUBLE(arg), ax = fabs(x);
        if (ax < 4e9 && ax >= 1e-280) {
            double y = x * 1e6, e = fma(x, 1e6, -y), fl = floor(y), f = y - fl, r = fl;
            if (f > 0.5 || (f == 0.5 && (e > 0 || (e == 0 && fmod(fl, 2.0) != 0))))
                r = fl + 1;
            return PyFloat_FromDouble(r != 0 ? r / 1e6 : copysign(0.0, x));
        }
        if (x == 0) { /* itself (a flush's time, 0.0) */
            Py_INCREF(arg);
            return arg;
        }
    }
    return PyObject_CallMethod(arg, "__round__", "i", 6);
}

/* tls_whole_messages(data, cut_at) -> bytes: dissect/tls/flow.py's py_whole_messages (the
   twin) with cut_at given, _cut_point's (pos, m) for data: data up to m, the handshake
   record at pos cut back to its whole messages and its header saying so (type 22,
   version 3.x, length m - pos - 5). One allocation and two copies, where the twin's
   slices, header and concatenations made five objects, for each held server flight
   read (~3,400 on the real-traffic bench input). ValueError for a cut_at that is no
   such point (0 <= pos, pos + 5 <= m <= len(data), m - pos - 5 < 65536). */
PyObject *tls_whole_messages(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyTuple_CheckExact(args[1]) || PyTuple_GET_SIZE(args[1]) != 2) {
        PyErr_SetString(PyExc_TypeError, "tls_whole_messages(data, (pos, m))");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[1], 0));
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t m = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[1], 1));
    if (m == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t length = m - pos - 5;
    if (pos < 0 || length < 0 || m > view.len || length > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "tls_whole_messages: not a cut point of data");
    } else if ((out = PyBytes_FromStringAndSize(NULL, m))) {
        const unsigned char *d = view.buf;
        unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out);
        memcpy(w, d, (size_t)pos);
        w[pos] = 22;
        w[pos + 1] = 3;
        w[pos + 2] = d[pos + 2];
        w[pos + 3] = (unsigned char)(length >> 8);
        w[pos + 4] = (unsigned char)length;
        memcpy(w + pos + 5, d + pos + 5, (size_t)length);
    }
    PyBuffer_Release(&view);
    return out;
}

/* tls_walk_encrypted(data, pos, rec_version) -> (records, rec_left, rec_version, lengths)
   | None: dissect/tls/flow.py's py_walk_encrypted compiled (the twin, which says what
   it answers; tests/test_tls_scan_twin.py compares them): the records of a side's bytes
   after encryption began, from pos. The first-packet path walks every packet of a side
   it reads packet by packet (~4,500 on the real-traffic bench input), and the twin's
   loop read each record's header byte by byte in Python. */
static PyObject *walk_answer(Py_ssize_t records, Py_ssize_t left, long version, PyObject *lengths) {
    PyObject *a = PyLong_FromSsize_t(records), *b = PyLong_FromSsize_t(left),
             *c = PyLong_FromLong(version), *r = NULL;
    if (a && b && c) /* (PyTuple_Pack: Py_BuildValue's format walk costs more) */
        r = PyTuple_Pack(4, a, b, c, lengths);
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    return r;
}

PyObject *tls_walk_encrypted(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "tls_walk_encrypted(data, pos, rec_version)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    long rec_version = PyLong_AsLong(args[2]);
    if (rec_version == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *d = view.buf;
    Py_ssize_t n = view.len, records = 0, left = 0;
    PyObject *lengths = PyList_New(0), *result = NULL;
    if (!lengths)
        goto out;
    if (pos < 0) { /* (the twin would index from the end: never asked) */
        PyErr_SetString(PyExc_ValueError, "tls_walk_encrypted: pos < 0");
        goto out;
    }
    if (pos >= n) {
        result = walk_answer(0, pos - n, rec_version, lengths);
        goto out;
    }
    while (pos + 5 <= n) {
        unsigned ctype = d[pos];
        Py_ssize_t length = tls_header_length(d + pos);
        if (length < 0)
            goto declined;
        records++;
        Py_ssize_t end = pos + 5 + length;
        if (ctype == 22 && (end > n || (length >= 4 && (d[pos + 5] == 1 || d[pos + 5] == 2))))
            goto declined;
        if (ctype == 23 && list_append_new(lengths, PyLong_FromSsize_t(length)) < 0)
            goto out;
        if (end > n) {
            if (ctype != 23)
                goto declined;
            left = end - n;
            rec_version = ((long)d[pos + 1] << 8) | d[pos + 2];
            result = walk_answer(records, left, rec_version, lengths);
            goto out;
        }
        pos = end;
    }
    if (pos != n)
        goto declined; /* a record header cut short */
    result = walk_answer(records, 0, 0, lengths);
    goto out;
declined:
    result = Py_None;
    Py_INCREF(result);
out:
    Py_XDECREF(lengths);
    PyBuffer_Release(&view);
    return result;
}
