/*
 * minewatch's compiled helpers, each with a pure-Python twin that gives identical
 * results (tests compare them; MINEWATCH_PURE=1 forces the Python versions):
 *
 *  - record walks for the capture readers (source/walk.py): the one loop that cannot be
 *    vectorised, because each record's length says where the next one starts;
 *  - the DNS response reader (dissect/dnsparse.py);
 *  - the TLS ClientHello field reader (dissect/tls/hello.py, parse_client_hello);
 *  - the header decoder of a record batch (decode.py).
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
#include <structmember.h>  /* T_OBJECT_EX, READONLY: fresh_copy reads slot members */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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

/* Buffers of n objects, the first `readonly` read-only, the rest writable; on failure
   the ones already taken are released and -1 returned (a Python error is set). */
static int take_buffers(PyObject **objs, Py_buffer *v, int n, int readonly) {
    for (int k = 0; k < n; k++) {
        if (PyObject_GetBuffer(objs[k], &v[k], k < readonly ? PyBUF_SIMPLE : PyBUF_WRITABLE) < 0) {
            for (int j = 0; j < k; j++) PyBuffer_Release(&v[j]);
            return -1;
        }
    }
    return 0;
}

static void release_buffers(Py_buffer *v, int n) {
    for (int k = 0; k < n; k++) PyBuffer_Release(&v[k]);
}

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
static PyObject *walk_pcap(PyObject *self, PyObject *args) {
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
/* A response is first decoded into a compact canonical byte string - per question
   'Q' len name, per answer 'A' addr4 | 'B' addr16 | 'C' len name, in message order -
   and only then, if wanted, into Python objects. The batch reader uses the canonical
   form to group identical answers of a batch (exact comparison, not just a hash), so a
   resolver link's thousands of repeated answers become a few dozen Python results. */

#define DNS_MAX_NAME 255
#define DNS_MAX_JUMPS 16
#define DNS_MAX_QUESTIONS 4
#define DNS_MAX_ANSWERS 32
/* 4 questions and 32 answers of at most 1 + 1 + 255 bytes each */
#define DNS_CANON_MAX ((DNS_MAX_QUESTIONS + DNS_MAX_ANSWERS) * (DNS_MAX_NAME + 2))

typedef struct {
    unsigned char b[DNS_CANON_MAX];
    Py_ssize_t len;
} dns_canon_t;

/* Decode the name at *pos into out (lower-case; non-ASCII bytes become U+FFFD later).
   Returns the length written, -1 on error (*why says which); *pos is set past it. */
static Py_ssize_t dns_read_name(const unsigned char *d, Py_ssize_t n, Py_ssize_t *pos,
                                unsigned char *out, const char **why) {
    Py_ssize_t p = *pos, end = -1, olen = 0;
    int jumps = 0, length = 0;
    if (p >= n || p < 0) {
        *why = "name runs past the message";
        return -1;
    }
    unsigned int size = d[p];
    while (size) {
        if (size >= 0xC0) {
            if (++jumps > DNS_MAX_JUMPS) {
                *why = "pointer loop";
                return -1;
            }
            if (p + 1 >= n) {
                *why = "name runs past the message";
                return -1;
            }
            if (end < 0)
                end = p + 2;
            p = ((Py_ssize_t)(size & 0x3F) << 8) | d[p + 1];
        } else if (size & 0xC0) {
            *why = "bad label type";
            return -1;
        } else {
            length += (int)size + 1;
            if (length > DNS_MAX_NAME) {
                *why = "name too long";
                return -1;
            }
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
        if (p >= n || p < 0) {
            *why = "name runs past the message";
            return -1;
        }
        size = d[p];
    }
    *pos = end >= 0 ? end : p + 1;
    return olen;
}

static Py_ssize_t dns_skip_name(const unsigned char *d, Py_ssize_t n, Py_ssize_t p,
                                const char **why) {
    for (;;) {
        if (p >= n || p < 0) {
            *why = "name runs past the message";
            return -1;
        }
        unsigned int size = d[p];
        if (size == 0)
            return p + 1;
        if (size >= 0xC0)
            return p + 2;
        if (size & 0xC0) {
            *why = "bad label type";
            return -1;
        }
        p += 1 + (Py_ssize_t)size;
    }
}

/* 1: a response, decoded into *c; 0: a query; -1: malformed (*why says why).
   Mirrors dissect/dnsparse.py:py_parse_response. */
static int dns_canon(const unsigned char *d, Py_ssize_t n, dns_canon_t *c, const char **why) {
    Py_ssize_t pos = 12;
    c->len = 0;
    if (n < 12) {
        *why = "short header";
        return -1;
    }
    if (!(d[2] & 0x80))
        return 0;
    unsigned int qd = ((unsigned)d[4] << 8) | d[5], an = ((unsigned)d[6] << 8) | d[7];
    for (unsigned int i = 0; i < qd && i < DNS_MAX_QUESTIONS; i++) {
        Py_ssize_t len = dns_read_name(d, n, &pos, c->b + c->len + 2, why);
        if (len < 0)
            return -1;
        c->b[c->len] = 'Q';
        c->b[c->len + 1] = (unsigned char)len;
        c->len += 2 + len;
        pos += 4;
    }
    for (unsigned int i = 0; i < an && i < DNS_MAX_ANSWERS; i++) {
        pos = dns_skip_name(d, n, pos, why);
        if (pos < 0)
            return -1;
        if (pos + 10 > n) {
            *why = "truncated record";
            return -1;
        }
        unsigned int rtype = ((unsigned)d[pos] << 8) | d[pos + 1];
        Py_ssize_t rdlen = ((Py_ssize_t)d[pos + 8] << 8) | d[pos + 9];
        pos += 10;
        if (pos + rdlen > n) {
            *why = "truncated rdata";
            return -1;
        }
        if (rtype == 1 && rdlen == 4) {
            c->b[c->len] = 'A';
            memcpy(c->b + c->len + 1, d + pos, 4);
            c->len += 5;
        } else if (rtype == 28 && rdlen == 16) {
            c->b[c->len] = 'B';
            memcpy(c->b + c->len + 1, d + pos, 16);
            c->len += 17;
        } else if (rtype == 5) {
            Py_ssize_t at = pos;
            Py_ssize_t len = dns_read_name(d, n, &at, c->b + c->len + 2, why);
            if (len < 0)
                return -1;
            c->b[c->len] = 'C';
            c->b[c->len + 1] = (unsigned char)len;
            c->len += 2 + len;
        }
        pos += rdlen;
    }
    return 1;
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

/* Dotted-quad text of 4 address bytes (PyUnicode_FromFormat costs ~10x more). */
static PyObject *ipv4_text(const unsigned char *a) {
    char text[16];
    int len = 0;
    for (int k = 0; k < 4; k++) {
        unsigned v = a[k];
        if (k) text[len++] = '.';
        if (v >= 100) text[len++] = (char)('0' + v / 100);
        if (v >= 10) text[len++] = (char)('0' + (v / 10) % 10);
        text[len++] = (char)('0' + v % 10);
    }
    return PyUnicode_FromStringAndSize(text, len);
}

/* Text of 16 IPv6 address bytes exactly as glibc's inet_ntop writes it (the Python twin
   calls socket.inet_ntop, that function): the longest run of two or more zero groups -
   the first of equal ones - as "::", groups in lower-case hex without leading zeros, and
   an IPv4-compatible (::a.b.c.d) or -mapped (::ffff:a.b.c.d) address with its last 32 bits
   dotted. Written out because glibc formats each group with sprintf: ~8,000 instructions
   an address, a tenth of the DNS answers' parsing on the generated bench input. */
static PyObject *ipv6_text(const unsigned char *a) {
    static const char hex[] = "0123456789abcdef";
    unsigned words[8];
    for (int i = 0; i < 8; i++) words[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        if (words[i] == 0) {
            if (cur < 0) cur = i, cur_len = 1;
            else cur_len++;
        } else if (cur >= 0) {
            if (best < 0 || cur_len > best_len) best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (cur >= 0 && (best < 0 || cur_len > best_len)) best = cur, best_len = cur_len;
    if (best >= 0 && best_len < 2) best = -1;
    char text[48];
    int len = 0;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) text[len++] = ':';
            continue;
        }
        if (i) text[len++] = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            for (int k = 12; k < 16; k++) {
                unsigned v = a[k];
                if (k > 12) text[len++] = '.';
                if (v >= 100) text[len++] = (char)('0' + v / 100);
                if (v >= 10) text[len++] = (char)('0' + (v / 10) % 10);
                text[len++] = (char)('0' + v % 10);
            }
            return PyUnicode_FromStringAndSize(text, len);
        }
        unsigned w = words[i];
        int started = 0;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned digit = (w >> shift) & 15;
            if (digit || started || shift == 0) {
                text[len++] = hex[digit];
                started = 1;
            }
        }
    }
    if (best >= 0 && best + best_len == 8) text[len++] = ':';
    return PyUnicode_FromStringAndSize(text, len);
}

static int list_append_new(PyObject *list, PyObject *item) {
    if (!item)
        return -1;
    int bad = PyList_Append(list, item);
    Py_DECREF(item);
    return bad;
}

/* The (questions, cnames, ips) tuple of a canonical response. */
static PyObject *dns_canon_to_python(const unsigned char *b, Py_ssize_t len) {
    PyObject *questions = PyList_New(0), *cnames = PyList_New(0), *ips = PyList_New(0);
    PyObject *result = NULL;
    if (!questions || !cnames || !ips)
        goto done;
    for (Py_ssize_t p = 0; p < len;) {
        unsigned char tag = b[p];
        if (tag == 'Q' || tag == 'C') {
            Py_ssize_t l = b[p + 1];
            if (list_append_new(tag == 'Q' ? questions : cnames, ascii_replace(b + p + 2, l)) < 0)
                goto done;
            p += 2 + l;
        } else if (tag == 'A') {
            if (list_append_new(ips, ipv4_text(b + p + 1)) < 0)
                goto done;
            p += 5;
        } else {
            if (list_append_new(ips, ipv6_text(b + p + 1)) < 0)
                goto done;
            p += 17;
        }
    }
    result = PyTuple_Pack(3, questions, cnames, ips);
done:
    Py_XDECREF(questions);
    Py_XDECREF(cnames);
    Py_XDECREF(ips);
    return result;
}

/* dns_response(data) -> None for a query, else (questions, cnames, ips); ValueError when
   malformed. Mirrors dissect/dnsparse.py:py_parse_response. */
static PyObject *dns_response(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    dns_canon_t *c = PyMem_Malloc(sizeof(dns_canon_t));
    if (!c) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    const char *why = NULL;
    int kind = dns_canon((const unsigned char *)view.buf, view.len, c, &why);
    PyObject *result = NULL;
    if (kind < 0) {
        PyErr_SetString(PyExc_ValueError, why);
    } else if (kind == 0) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        result = dns_canon_to_python(c->b, c->len);
    }
    PyMem_Free(c);
    PyBuffer_Release(&view);
    return result;
}

static uint64_t fnv1a(const unsigned char *b, Py_ssize_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (Py_ssize_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

typedef struct {
    uint64_t hash;
    Py_ssize_t at, len; /* canonical bytes in the arena */
    Py_ssize_t group;   /* -1: free */
} dns_slot_t;

/* dns_answer_groups(buf, offsets, lengths, group_out) -> (distinct, last)

   For each message: group_out[i] = index into ``distinct`` of its (questions, cnames,
   ips), or -1 for a query or a malformed message; ``last[g]`` is the index of the last
   message of group g. Messages are grouped when their decoded answers are identical. */
static PyObject *dns_answer_groups(PyObject *self, PyObject *args) {
    PyObject *bufobj, *offobj, *lenobj, *grpobj;
    Py_buffer b, o, l, g;
    if (!PyArg_ParseTuple(args, "OOOO", &bufobj, &offobj, &lenobj, &grpobj))
        return NULL;
    if (PyObject_GetBuffer(bufobj, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(offobj, &o, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&b);
        return NULL;
    }
    if (PyObject_GetBuffer(lenobj, &l, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&b);
        PyBuffer_Release(&o);
        return NULL;
    }
    if (PyObject_GetBuffer(grpobj, &g, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&b);
        PyBuffer_Release(&o);
        PyBuffer_Release(&l);
        return NULL;
    }
    const unsigned char *base = (const unsigned char *)b.buf;
    const int64_t *offs = (const int64_t *)o.buf, *lens = (const int64_t *)l.buf;
    int64_t *group = (int64_t *)g.buf;
    Py_ssize_t n = o.len / (Py_ssize_t)sizeof(int64_t);
    PyObject *distinct = PyList_New(0), *last = PyList_New(0), *result = NULL;
    size_t tcap = 16;
    while (tcap < (size_t)n * 2) tcap <<= 1;
    dns_slot_t *table = PyMem_Malloc(tcap * sizeof(dns_slot_t));
    Py_ssize_t arena_cap = 1 << 16, arena_len = 0;
    unsigned char *arena = PyMem_Malloc((size_t)arena_cap);
    dns_canon_t *c = PyMem_Malloc(sizeof(dns_canon_t));
    Py_ssize_t *last_at = PyMem_Malloc(((size_t)n + 1) * sizeof(Py_ssize_t));
    Py_ssize_t ngroups = 0;
    if (!distinct || !last || !table || !arena || !c || !last_at || g.len < o.len ||
        l.len < o.len) {
        if (!PyErr_Occurred()) {
            if (g.len < o.len || l.len < o.len)
                PyErr_SetString(PyExc_ValueError, "output shorter than offsets");
            else
                PyErr_NoMemory();
        }
        goto done;
    }
    for (size_t k = 0; k < tcap; k++) table[k].group = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        group[i] = -1;
        if (offs[i] < 0 || lens[i] < 0 || offs[i] + lens[i] > b.len)
            continue;
        const char *why = NULL;
        if (dns_canon(base + offs[i], lens[i], c, &why) != 1)
            continue;
        uint64_t h = fnv1a(c->b, c->len);
        size_t pos = (size_t)(h ^ (h >> 31)) & (tcap - 1);
        for (;;) {
            dns_slot_t *s = &table[pos];
            if (s->group < 0) {
                if (arena_len + c->len > arena_cap) {
                    while (arena_len + c->len > arena_cap) arena_cap *= 2;
                    unsigned char *grown = PyMem_Realloc(arena, (size_t)arena_cap);
                    if (!grown) {
                        PyErr_NoMemory();
                        goto done;
                    }
                    arena = grown;
                }
                memcpy(arena + arena_len, c->b, (size_t)c->len);
                PyObject *parsed = dns_canon_to_python(c->b, c->len);
                if (!parsed || list_append_new(distinct, parsed) < 0)
                    goto done;
                s->hash = h;
                s->at = arena_len;
                s->len = c->len;
                s->group = ngroups++;
                arena_len += c->len;
                break;
            }
            if (s->hash == h && s->len == c->len && memcmp(arena + s->at, c->b, (size_t)c->len) == 0)
                break;
            pos = (pos + 1) & (tcap - 1);
        }
        group[i] = table[pos].group;
        last_at[table[pos].group] = i;
    }
    for (Py_ssize_t k = 0; k < ngroups; k++)
        if (list_append_new(last, PyLong_FromSsize_t(last_at[k])) < 0)
            goto done;
    result = PyTuple_Pack(2, distinct, last);
done:
    Py_XDECREF(distinct);
    Py_XDECREF(last);
    PyMem_Free(table);
    PyMem_Free(arena);
    PyMem_Free(c);
    PyMem_Free(last_at);
    PyBuffer_Release(&b);
    PyBuffer_Release(&o);
    PyBuffer_Release(&l);
    PyBuffer_Release(&g);
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
    PyObject *sni = NULL;
    if (at[5] >= 0) {
        sni = ext_sni(b, at[5], ln[5]);
    } else {
        sni = Py_None;
        Py_INCREF(sni);
    }
    if (!sni) {
        Py_DECREF(alpn);
        return NULL;
    }
    /* Every value below comes from at least one byte of the body (a point format: one),
       every count from a length field or an extension header: 4 * len + 64 bounds it. */
    PyObject *key = PyBytes_FromStringAndSize(NULL, 4 * len + 64);
    if (!key) {
        Py_DECREF(alpn);
        Py_DECREF(sni);
        return NULL;
    }
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(key), *start = w;
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
    if (_PyBytes_Resize(&key, w - start) < 0) {
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
static PyObject *client_hello_key(PyObject *self, PyObject *arg) {
    return on_buffer(arg, ch_key);
}

static PyObject *client_hello_fields(PyObject *self, PyObject *arg) {
    return on_buffer(arg, ch_fields);
}

/* ------------------------------------------------------------ TLS ServerHello */

static const unsigned char HRR_RANDOM[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* (version, selected_version or None, cipher, compression, extensions, alpn or None,
   hello_retry), or None when the framing is inconsistent. Mirrors
   dissect/tls/hello.py:py_parse_server_hello. */
static PyObject *sh_fields(const unsigned char *b, Py_ssize_t len) {
    rd_t r = {b, 0, len}, sid, block, body;
    unsigned version, cipher, compression, ext_type;
    if (rd_u16(&r, &version) || r.pos + 32 > r.end)
        Py_RETURN_NONE;
    int hrr = memcmp(b + r.pos, HRR_RANDOM, 32) == 0;
    r.pos += 32;
    if (rd_vec(&r, 1, &sid) || rd_u16(&r, &cipher) || rd_u8(&r, &compression))
        Py_RETURN_NONE;
    PyObject *types = PyList_New(0), *selected = NULL, *alpn = NULL, *result = NULL;
    if (!types)
        return NULL;
    if (r.pos < r.end) {
        if (rd_vec(&r, 2, &block)) {
            Py_DECREF(types);
            Py_RETURN_NONE;
        }
        while (block.pos < block.end) {
            if (rd_u16(&block, &ext_type) || rd_vec(&block, 2, &body)) {
                Py_DECREF(types);
                Py_XDECREF(selected);
                Py_XDECREF(alpn);
                Py_RETURN_NONE;
            }
            if (list_append_new(types, PyLong_FromUnsignedLong(ext_type)) < 0)
                goto done;
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
    }
    {
        PyObject *ext_tuple = PyList_AsTuple(types);
        if (ext_tuple) { /* (PyTuple_Pack: Py_BuildValue's format walk cost ~3 times more) */
            PyObject *v = PyLong_FromUnsignedLong(version), *c = PyLong_FromUnsignedLong(cipher),
                     *k = PyLong_FromUnsignedLong(compression);
            if (v && c && k)
                result = PyTuple_Pack(7, v, selected ? selected : Py_None, c, k, ext_tuple,
                                      alpn ? alpn : Py_None, hrr ? Py_True : Py_False);
            Py_XDECREF(v);
            Py_XDECREF(c);
            Py_XDECREF(k);
        }
        Py_XDECREF(ext_tuple);
    }
done:
    Py_DECREF(types);
    Py_XDECREF(selected);
    Py_XDECREF(alpn);
    return result;
}

static PyObject *server_hello_fields(PyObject *self, PyObject *arg) {
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

static PyObject *hello_key(PyObject *self, PyObject *fields) {
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

/* The record walk shared by tls_scan and tls_first: complete records from the start of
   b, stopping at the first that is cut, invalid, or a handshake record whose messages do
   not all lie whole inside it (or comes after encryption began). Each event goes to
   `events` in stream order (tls_scan) or, when `events` is NULL, to kind[0..3] =
   ClientHellos (version, key, sni, alpn, body: see ch_key), ServerHellos (version,
   fields), Certificate bodies,
   application-data lengths (tls_first; alerts are not needed there). Returns the offset
   where it stopped, or -1 with a Python error set. */
static Py_ssize_t tls_records(const unsigned char *b, Py_ssize_t n, int *encrypted,
                              Py_ssize_t *records, PyObject *events, PyObject **kind,
                              int *in_order) {
    Py_ssize_t pos = 0;
    int last_kind = 0; /* kind mode: kinds must come in 0..3 order (see tls_first) */
    while (pos + 5 <= n) {
        unsigned ctype = b[pos], version = ((unsigned)b[pos + 1] << 8) | b[pos + 2];
        Py_ssize_t length = ((Py_ssize_t)b[pos + 3] << 8) | b[pos + 4];
        if (ctype < 20 || ctype > 24 || (version >> 8) != 3 || length > 16384 + 2048)
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
                PyObject *event = NULL, *sink = events;
                if (mtype == 1 && !events) {
                    /* tls_first: (record version, key, sni, alpn, body) - see ch_key */
                    PyObject *read = ch_key(b + m + 4, mlen);
                    if (!read)
                        return -1;
                    if (read != Py_None) {
                        PyObject *rv = PyLong_FromUnsignedLong(version);
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
                    sink = kind[0];
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
                        PyObject *rv = PyLong_FromUnsignedLong(version);
                        event = rv ? PyTuple_Pack(2, rv, fields) : NULL;
                        Py_XDECREF(rv);
                    }
                    Py_DECREF(fields);
                    if (fields != Py_None && !event)
                        return -1;
                    if (!events) {
                        sink = kind[mtype - 1];
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
                        sink = kind[2];
                        if (2 < last_kind)
                            *in_order = 0;
                        last_kind = 2;
                    }
                }
                if (event && list_append_new(sink, event) < 0)
                    return -1;
                m += 4 + mlen;
            }
        } else if (ctype == 23) {
            *encrypted = 1;
            if (!events)
                last_kind = 3;
            PyObject *event = events ? Py_BuildValue("(In)", 23u, length) : PyLong_FromSsize_t(length);
            if (list_append_new(events ? events : kind[3], event) < 0)
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

static PyObject *tls_scan(PyObject *self, PyObject *args) {
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
   encrypted), each list in stream order (tests compare it with the stream parser); a
   client hello as (record version, fingerprint key, sni, alpn, body) - ch_key.
   Anything else is None: the general path reads it. */
static PyObject *tls_first(PyObject *self, PyObject *arg) {
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
    for (int k = 0; k < 4; k++)
        if (!(kind[k] = PyList_New(0)))
            goto out;
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
        unsigned ctype = b[pos], version = ((unsigned)b[pos + 1] << 8) | b[pos + 2];
        Py_ssize_t length = ((Py_ssize_t)b[pos + 3] << 8) | b[pos + 4];
        if (ctype < 20 || ctype > 24 || (version >> 8) != 3 || length > 16384 + 2048 ||
            pos + 5 + length <= n || ctype == 22) {
            result = Py_None;
            Py_INCREF(result);
            goto out;
        }
        if (ctype == 23) {
            if (list_append_new(kind[3], PyLong_FromSsize_t(length)) < 0)
                goto out;
            encrypted = 1;
        } else if (ctype == 20) {
            encrypted = 1;
        }
    }
    result = Py_BuildValue("(OOOOO)", kind[0], kind[1], kind[2], kind[3],
                           encrypted ? Py_True : Py_False);
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
static PyObject *tls_cut_point(PyObject *self, PyObject *arg) {
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

/* http_headers(block, names=None) -> dict | None: the header fields of an HTTP message head (after its
   start line), read exactly as dissect/http.py's py_parse_headers reads them - which is how
   dpkt.http.parse_headers does: lines split at \n, each stripped of ASCII whitespace and then
   rid of its non-ASCII bytes, up to the first empty one; the name (up to the first colon)
   must be one token without whitespace, else None; names lower-cased; a value is the rest
   after the colon, its leading whitespace (str.isspace's) dropped; a repeated name gets the
   list of its values. One call instead of some ten Python method calls per line.
   With ``names`` (a tuple of lower-case ASCII str), only the fields so named go in the
   dict - every line is still read and checked (a name with spaces is None all the same):
   the HTTP dissector reads a dozen fields, and the str objects and dict entries of the
   others were half of this function's cost (callgrind, real-1m). */
static inline int http_bws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int http_sws(unsigned char c) { return http_bws(c) || (c >= 0x1c && c <= 0x1f); }

/* Whether line[0:len] (a lower-cased field name) is one of ``names`` (ASCII str). */
static int http_name_in(const char *line, Py_ssize_t len, PyObject *names) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(names); k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (PyUnicode_GET_LENGTH(name) == len && memcmp(PyUnicode_DATA(name), line, (size_t)len) == 0)
            return 1;
    }
    return 0;
}

static PyObject *http_headers(PyObject *self, PyObject *args) {
    PyObject *arg, *names = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &arg, &names))
        return NULL;
    if (names != Py_None) {
        int ok = PyTuple_Check(names);
        for (Py_ssize_t k = 0; ok && k < PyTuple_GET_SIZE(names); k++)
            ok = PyUnicode_Check(PyTuple_GET_ITEM(names, k)) &&
                 PyUnicode_IS_COMPACT_ASCII(PyTuple_GET_ITEM(names, k));
        if (!ok) {
            PyErr_SetString(PyExc_TypeError, "http_headers: names must be a tuple of ASCII str");
            return NULL;
        }
    }
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, pos = 0;
    char *line = PyMem_Malloc((size_t)n + 1);
    PyObject *headers = PyDict_New();
    if (!line || !headers)
        goto fail;
    for (;;) {
        const unsigned char *nl = memchr(b + pos, '\n', (size_t)(n - pos));
        Py_ssize_t end = nl ? nl - b : n, s = pos, e = end, len = 0;
        while (s < e && http_bws(b[s]))
            s++;
        while (e > s && http_bws(b[e - 1]))
            e--;
        for (Py_ssize_t i = s; i < e; i++)
            if (b[i] < 0x80)
                line[len++] = (char)b[i];
        if (len == 0)
            break;
        Py_ssize_t colon = 0;
        while (colon < len && line[colon] != ':')
            colon++;
        int tokens = 0, in_token = 0;
        for (Py_ssize_t i = 0; i < colon; i++) {
            int space = http_sws((unsigned char)line[i]);
            if (!space && !in_token)
                tokens++;
            in_token = !space;
        }
        if (tokens != 1) {
            Py_DECREF(headers);
            PyMem_Free(line);
            PyBuffer_Release(&view);
            Py_RETURN_NONE;
        }
        for (Py_ssize_t i = 0; i < colon; i++)
            if (line[i] >= 'A' && line[i] <= 'Z')
                line[i] = (char)(line[i] + 32);
        if (names != Py_None && !http_name_in(line, colon, names)) {
            if (!nl)
                break;
            pos = end + 1;
            continue;
        }
        Py_ssize_t v = colon + 1;
        if (colon < len)
            while (v < len && http_sws((unsigned char)line[v]))
                v++;
        else
            v = len;
        PyObject *text = PyUnicode_FromStringAndSize(line + v, len - v);
        PyObject *key = text ? PyUnicode_FromStringAndSize(line, colon) : NULL;
        int bad = !key;
        if (!bad) {
            PyObject *old = PyDict_GetItemWithError(headers, key);
            if (old == NULL) {
                bad = PyErr_Occurred() != NULL || PyDict_SetItem(headers, key, text) < 0;
            } else if (PyList_Check(old)) {
                bad = PyList_Append(old, text) < 0;
            } else {
                PyObject *both = PyList_New(2);
                if (both) {
                    Py_INCREF(old);
                    PyList_SET_ITEM(both, 0, old);
                    Py_INCREF(text);
                    PyList_SET_ITEM(both, 1, text);
                }
                bad = !both || PyDict_SetItem(headers, key, both) < 0;
                Py_XDECREF(both);
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(text);
        if (bad)
            goto fail;
        if (!nl)
            break;
        pos = end + 1;
    }
    PyMem_Free(line);
    PyBuffer_Release(&view);
    return headers;
fail:
    Py_XDECREF(headers);
    PyMem_Free(line);
    PyBuffer_Release(&view);
    return NULL;
}

/* ------------------------------------------------------------------- packet decode */
/* decode_batch: link, IP and TCP/UDP headers of every record of a batch, exactly like
   the numpy decoder in decode.py (py_decode), including its reads of clipped offsets. */

typedef struct {
    const unsigned char *b;
    Py_ssize_t last; /* len - 8: reads clip their start offset to [0, last] */
} gb_t;

static inline Py_ssize_t gclip(const gb_t *g, long long i) {
    /* An offset in [0, last], nearly every read, passes one unsigned test (two tests and
       two conditional moves each read made ~4 % of decode_batch, callgrind). last >= 0
       wherever there is a record to read: its header alone is 16 bytes. */
    if ((unsigned long long)i <= (unsigned long long)g->last) return (Py_ssize_t)i;
    return i < 0 ? 0 : g->last;
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

static inline long long g8(const gb_t *g, long long i) { return g->b[gclip(g, i)]; }
static inline long long g16(const gb_t *g, long long i) { return BE16(g->b + gclip(g, i)); }
static inline long long g32(const gb_t *g, long long i) { return BE32(g->b + gclip(g, i)); }
static inline uint64_t g64(const gb_t *g, long long i) { return BE64(g->b + gclip(g, i)); }
static inline long long gl16(const gb_t *g, long long i) { return LE16(g->b + gclip(g, i)); }
static inline long long gl32(const gb_t *g, long long i) { return LE32(g->b + gclip(g, i)); }

/* Ethernet at o (VLAN tags, PPPoE session): the l3 offset; *et the ethertype. The same
   steps as decode_batch's own Ethernet branch, which stays written out in its loop (keeping
   the hot loop's code as it was measured; see decode_batch). */
static inline long long eth_l3(const gb_t *g, long long o, long long *et) {
    long long e = g16(g, o + 12), pos = o + 14;
    for (int k = 0; k < 3; k++) {
        if (e == 0x8100 || e == 0x88A8 || e == 0x9100) {
            e = g16(g, pos + 2);
            pos += 4;
        } else break;
    }
    if (e == 0x8864) {
        long long ppp = g16(g, pos + 6);
        e = ppp == 0x21 ? 0x0800 : (ppp == 0x57 ? 0x86DD : 0);
        pos += 8;
    }
    *et = e;
    return pos;
}

/* MPLS label stacks, exactly as decode.py's _mpls_stack (which cites the format's sources):
   the offset after the stack in *after, and what follows - 4 (IPv4), 6 (IPv6), 1 (an
   Ethernet pseudowire frame at *after + 4) or 0 (unreadable) - or -1 when cut short. */
enum { MPLS_MAX_LABELS = 8 };
static int mpls_stack(const gb_t *g, long long pos, long long end, long long *after) {
    long long label = 0;
    int bottom = 0;
    for (int k = 0; k < MPLS_MAX_LABELS; k++) {
        if (pos + 4 > end) return -1;
        long long shim = g32(g, pos);
        label = shim >> 12;
        pos += 4;
        if ((shim >> 8) & 1) {
            bottom = 1;
            break;
        }
    }
    *after = pos;
    if (!bottom) return 0;
    if (label == 0) return 4;
    if (label == 2) return 6;
    if (label < 15) return 0;
    if (pos + 4 > end) return -1;
    long long nibble = g8(g, pos) >> 4;
    return nibble == 4 ? 4 : (nibble == 6 ? 6 : (nibble == 0 ? 1 : 0));
}

/* The link types past the common ones, exactly as decode.py's _ppp, _dot11, _radiotap and
   _ppi (which cite the formats' sources). Each sets *l3 and *et (0: not IP) and may lower
   *end (an FCS at the end of the frame); it returns 0, or LINK_CUT for a link header cut
   short or malformed (counted as a truncated header). */
enum { LINK_CUT = 2, RADIOTAP_MAX_PRESENT = 8, PPI_MAX_FIELDS = 8, LINK_DOT11_SWAPPED = -105 };

static inline long long fcs_end(long long o, long long cap, long long wire) {
    long long w = wire - 4 > 0 ? wire - 4 : 0;
    return o + (cap < w ? cap : w);
}

static int dot11(const gb_t *g, long long o, long long end, int datapad, int swapped, long long *l3,
                 long long *et) {
    long long fc0 = g8(g, o), fc1 = g8(g, o + 1);
    if (swapped) { /* LINK_DOT11_SWAPPED: the frame control bytes come in the other order */
        long long t = fc0;
        fc0 = fc1;
        fc1 = t;
    }
    int data = (fc0 & 0x0F) == 0x08 && !(fc0 & 0x40) && !(fc1 & 0x40);
    int qos = (fc0 & 0x80) != 0, four = (fc1 & 0x03) == 0x03;
    long long hl = 24 + (four ? 6 : 0) + (qos ? 2 : 0) + (qos && fc1 >= 0x80 ? 4 : 0);
    if (datapad) hl = (hl + 3) & ~3LL;
    long long llc = o + hl;
    *l3 = llc + 8;
    if (end - o < 2) return LINK_CUT;
    if (!data) {
        *et = 0;
        return 0;
    }
    if (end - o < hl + 8) return LINK_CUT;
    int amsdu = qos && g8(g, o + (four ? 30 : 24)) >= 0x80;
    long long oui = g8(g, llc + 5);
    int snap = g16(g, llc) == 0xAAAA && g8(g, llc + 2) == 0x03 && g16(g, llc + 3) == 0 && (oui == 0x00 || oui == 0xF8);
    *et = !amsdu && snap ? g16(g, llc + 6) : 0;
    return 0;
}

static __attribute__((noinline)) int link_more(const gb_t *g, int lt, long long o, long long cap, long long wire,
                                                long long *l3, long long *et, long long *end) {
    if (lt == 9 || lt == 50) { /* PPP, PPP in HDLC-like framing; Cisco HDLC inside */
        long long b0 = g8(g, o), e;
        if (b0 == 0x0F || b0 == 0x8F) {
            *l3 = o + 4;
            e = g16(g, o + 2);
        } else {
            long long pos = b0 == 0xFF && g8(g, o + 1) == 0x03 ? o + 2 : o, p0 = g8(g, pos), proto;
            if (p0 & 1) {
                proto = p0;
                *l3 = pos + 1;
            } else {
                proto = g16(g, pos);
                *l3 = pos + 2;
            }
            e = proto == 0x21 ? 0x0800 : (proto == 0x57 ? 0x86DD : 0);
        }
        if (*l3 > *end) return LINK_CUT;
        *et = e;
        return 0;
    }
    if (lt == 104) { /* Cisco HDLC */
        *l3 = o + 4;
        if (o + 4 > *end) return LINK_CUT;
        *et = g16(g, o + 2);
        return 0;
    }
    if (lt == 105) return dot11(g, o, *end, 0, 0, l3, et);
    if (lt == LINK_DOT11_SWAPPED) return dot11(g, o, *end, 0, 1, l3, et);
    if (lt == 127) { /* radiotap + 802.11 */
        if (cap < 8) return LINK_CUT;
        if (g8(g, o) != 0) {
            *et = 0;
            return 0;
        }
        long long rlen = gl16(g, o + 2), p0 = gl32(g, o + 4);
        if (rlen < 8 || rlen > cap) return LINK_CUT;
        long long last = o + 4;
        int more = (p0 >> 31) == 1;
        for (int k = 1; k < RADIOTAP_MAX_PRESENT && more; k++) {
            last += 4;
            more = (gl32(g, last) >> 31) == 1;
        }
        long long fields = last + 4;
        long long fpos = p0 & 1 ? o + ((fields - o + 7) & ~7LL) + 8 : fields;
        long long flags = (p0 & 2) && !more && fpos < o + rlen ? g8(g, fpos) : 0;
        if (flags & 0x40) { /* bad FCS */
            *et = 0;
            return 0;
        }
        if (flags & 0x10) *end = fcs_end(o, cap, wire);
        return dot11(g, o + rlen, *end, (flags & 0x20) != 0, 0, l3, et);
    }
    if (lt == 192) { /* PPI */
        long long pflags = g8(g, o + 1), plen = gl16(g, o + 2), dlt = gl32(g, o + 4);
        if (cap < 8 || plen < 8 || plen > cap) return LINK_CUT;
        long long stop = o + plen;
        if (dlt == 1) {
            *l3 = eth_l3(g, stop, et);
            return 0;
        }
        if (dlt != 105) {
            *l3 = stop;
            *et = 0;
            return 0;
        }
        long long pos = o + 8, cflags = 0;
        for (int k = 0; k < PPI_MAX_FIELDS && pos + 4 <= stop; k++) {
            long long flen = gl16(g, pos + 2);
            if (gl16(g, pos) == 2 && flen == 20 && pos + 24 <= stop) { /* 802.11-Common */
                cflags = gl16(g, pos + 12);
                break;
            }
            pos += pflags & 1 ? (flen + 7) & ~3LL : flen + 4;
        }
        if (cflags & 0x0004) { /* FCS invalid */
            *et = 0;
            return 0;
        }
        if (cflags & 0x0001) *end = fcs_end(o, cap, wire);
        return dot11(g, stop, *end, 0, 0, l3, et);
    }
    return 1;
}

/* MPLS on a link, exactly as decode.py's _mpls: *l3 and *et behind the label stack (the
   pseudowire's Ethernet frame read through); LINK_CUT when the stack or that frame's
   header is cut short. */
static __attribute__((noinline)) int mpls_link(const gb_t *g, long long pos, long long end,
                                               long long *l3, long long *et) {
    long long after = pos;
    int kind = mpls_stack(g, pos, end, &after);
    if (kind < 0) return LINK_CUT;
    *l3 = after;
    if (kind == 1) {
        long long e;
        if (after + 18 > end) return LINK_CUT;
        *l3 = eth_l3(g, after + 4, &e);
        *et = (e == 0x8847 || e == 0x8848) ? 0 : e;
        return 0;
    }
    *et = kind == 4 ? 0x0800 : (kind == 6 ? 0x86DD : 0);
    return 0;
}

/* The flow protocols past TCP and UDP, exactly as decode.py's L4_HEADER, L4_PAYLOAD and
   _rare_ports (which cite the sources): the header bytes a packet must hold (-1: no flow), and its
   ports and flags. ICMP pairs (Community ID spec): requests get SYN, replies SYN|ACK,
   one-way types SYN|DIRECTED (0x82) and their code as the "destination port". */
static inline long long l4_need(long long proto) {
    switch (proto) {
    case 1: case 58: return 8;
    case 132: return 12;
    case 47: return 4;
    case 4: case 41: return 0;
    default: return -1;
    }
}

static long long icmp_paired(int v6, long long type) {
    if (!v6) {
        switch (type) {
        case 8: return 0;
        case 0: return 8;
        case 10: return 9;
        case 9: return 10;
        case 13: return 14;
        case 14: return 13;
        case 15: return 16;
        case 16: return 15;
        case 17: return 18;
        case 18: return 17;
        default: return -1;
        }
    }
    switch (type) {
    case 128: return 129;
    case 129: return 128;
    case 130: return 131;
    case 131: return 130;
    case 133: return 134;
    case 134: return 133;
    case 135: return 136;
    case 136: return 135;
    case 139: return 140;
    case 140: return 139;
    case 144: return 145;
    case 145: return 144;
    default: return -1;
    }
}

static int icmp_request(int v6, long long type) {
    if (!v6) return type == 8 || type == 10 || type == 13 || type == 15 || type == 17;
    return type == 128 || type == 130 || type == 133 || type == 135 || type == 139 || type == 144;
}

typedef struct {
    long long sport, dport, flags, hdr;
} l4_t;

static __attribute__((noinline)) l4_t rare_l4(gb_t g, long long proto, long long l4, long long end) {
    l4_t r = {0, 0, 0, proto == 47 ? 0 : l4_need(proto)}; /* the payload: L4_PAYLOAD */
    if (proto == 1 || proto == 58) {
        int v6 = proto == 58;
        long long type = g8(&g, l4), code = g8(&g, l4 + 1), paired = icmp_paired(v6, type);
        r.sport = type;
        r.dport = paired >= 0 ? paired : code;
        r.flags = paired < 0 ? 0x82 : (icmp_request(v6, type) ? 0x02 : 0x12);
    } else if (proto == 132) {
        long long chunk = end - l4 > 12 ? g8(&g, l4 + 12) : 0;
        r.sport = g16(&g, l4);
        r.dport = g16(&g, l4 + 2);
        r.flags = chunk == 1 ? 0x02 : (chunk == 2 ? 0x12 : 0);
    }
    return r;
}

/* UDP ports that carry tunnels (decode.py's TUNNEL_PORTS). */
static inline int tunnel_port(long long port) {
    if ((unsigned long long)(port - 2152) > 6081 - 2152) return 0; /* most ports: one test */
    return port == 4789 || port == 6081 || port == 2152 || port == 5247 || port == 3544;
}

/* decode_batch(buf, data_off, caplen, link, ts, wirelen, stream_off, keep, proto, src_hi,
                src_lo, dst_hi, dst_lo, sport, dport, flags, seq, poff, plen, pcap, ts_out,
                wirelen_out, stream_off_out) -> (kept, non_ip, fragments, other, truncated,
                                                 unsupported, carriers)
   The first seven are read, per record; the rest written, per kept packet (keep: its
   record). The record's time, wire length and stream offset are copied to the kept rows
   here, in the loop that reads the record anyway: three np.take calls after it cost ~0.8 %
   of a scan's instructions (callgrind, generated bench input). */
enum { NBUF = 23, NBUF_IN = 7, DECODE_PREFETCH = 8 };

static PyObject *decode_batch(PyObject *self, PyObject *args) {
    PyObject *objs[NBUF];
    Py_buffer v[NBUF];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOOOOO", &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15],
                          &objs[16], &objs[17], &objs[18], &objs[19], &objs[20], &objs[21],
                          &objs[22]))
        return NULL;
    if (take_buffers(objs, v, NBUF, NBUF_IN) < 0)
        return NULL;
    gb_t g = {(const unsigned char *)v[0].buf, v[0].len - 8};
    const int64_t *data_off = (const int64_t *)v[1].buf, *caplen = (const int64_t *)v[2].buf;
    const int32_t *link = (const int32_t *)v[3].buf;
    const double *ts = (const double *)v[4].buf;
    const int64_t *wirelen = (const int64_t *)v[5].buf, *stream_off = (const int64_t *)v[6].buf;
    int64_t *o_keep = v[7].buf;
    uint8_t *o_proto = v[8].buf;
    uint64_t *o_shi = v[9].buf, *o_slo = v[10].buf, *o_dhi = v[11].buf, *o_dlo = v[12].buf;
    int64_t *o_sport = v[13].buf, *o_dport = v[14].buf;
    uint8_t *o_flags = v[15].buf;
    int64_t *o_seq = v[16].buf, *o_poff = v[17].buf, *o_plen = v[18].buf, *o_pcap = v[19].buf;
    double *o_ts = v[20].buf;
    int64_t *o_wirelen = v[21].buf, *o_stream_off = v[22].buf;
    Py_ssize_t n = v[1].len / (Py_ssize_t)sizeof(int64_t), kept = 0;
    /* every column must hold a row per record (the outputs: per packet they may keep) */
    static const Py_ssize_t width[NBUF] = {0, 8, 8, 4, 8, 8, 8, 8, 1, 8, 8, 8, 8, 8, 8, 1, 8, 8,
                                           8, 8, 8, 8, 8};
    for (int k = 1; k < NBUF; k++) {
        if (v[k].len < n * width[k]) {
            release_buffers(v, NBUF);
            PyErr_SetString(PyExc_ValueError, "decode_batch: a column shorter than the batch");
            return NULL;
        }
    }
    long long non_ip = 0, frags = 0, other = 0, truncated = 0, unsupported = 0, carriers = 0;
    const uint64_t V4PREFIX = 0x0000FFFF00000000ULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long o = data_off[i], l3 = o, et = 0, pend = o + caplen[i];
        int lt = link[i];
        if (i + DECODE_PREFETCH < n) {  /* headers a few packets ahead (see walk_pcap) */
            long long ahead = data_off[i + DECODE_PREFETCH];
            if (ahead >= 0 && ahead + 64 <= g.last) {
                __builtin_prefetch(g.b + ahead);
                __builtin_prefetch(g.b + ahead + 63);
            }
        }
        if (lt == 1) {
            et = g16(&g, o + 12);
            long long pos = o + 14;
            for (int k = 0; k < 3; k++) {
                if (et == 0x8100 || et == 0x88A8 || et == 0x9100) {
                    et = g16(&g, pos + 2);
                    pos += 4;
                } else break;
            }
            if (et == 0x8864) {
                long long ppp = g16(&g, pos + 6);
                et = ppp == 0x21 ? 0x0800 : (ppp == 0x57 ? 0x86DD : 0);
                pos += 8;
            }
            l3 = pos;
        } else if (lt == 113) {
            l3 = o + 16;
            et = g16(&g, o + 14);
        } else if (lt == 276) {
            l3 = o + 20;
            et = g16(&g, o);
        } else if (lt == 101 || lt == 228 || lt == 229 || lt == 12 || lt == 14) {
            long long ver = g8(&g, o) >> 4;
            et = ver == 4 ? 0x0800 : (ver == 6 ? 0x86DD : 0);
        } else if (lt == 0 || lt == 108) {
            long long fam = g32(&g, o);
            if (lt == 0 && fam > 0xFFFF)
                fam = ((fam & 0xFF) << 24) | ((fam & 0xFF00) << 8) | ((fam >> 8) & 0xFF00) | (fam >> 24);
            et = fam == 2 ? 0x0800 : ((fam == 10 || fam == 24 || fam == 28 || fam == 30) ? 0x86DD : 0);
            l3 = o + 4;
        } else { /* the other link types, out of line. Copies: no address of the loop's own
                    variables (g above all) is taken, so they stay in registers; taking one
                    cost the Ethernet path about 9 % more instructions (callgrind). */
            gb_t gc = g;
            long long ml3 = o, met = 0, mend = pend;
            int r = link_more(&gc, lt, o, caplen[i], wirelen[i], &ml3, &met, &mend);
            if (r == 1) {
                unsupported++;
                continue; /* etype -1: neither IP nor counted as non-IP */
            }
            if (r == LINK_CUT) {
                truncated++;
                continue;
            }
            l3 = ml3, et = met, pend = mend;
        }
        if (et == 0x8847 || et == 0x8848) { /* MPLS, on any link: out of line, on a copy */
            gb_t gc = g;
            long long ml3 = l3, met = 0;
            if (mpls_link(&gc, l3, pend, &ml3, &met) == LINK_CUT) {
                truncated++;
                continue;
            }
            l3 = ml3, et = met;
        }
        long long avail = pend - l3, first = g8(&g, l3), ver = first >> 4;
        int is4 = et == 0x0800 && ver == 4 && avail >= 20;
        int is6 = et == 0x86DD && ver == 6 && avail >= 40;
        if (et != 0x0800 && et != 0x86DD) {
            non_ip++;
            continue;
        }
        if (!is4 && !is6) {
            truncated++;
            continue;
        }
        long long l4, ip_end, proto;
        int frag;
        if (is4) {
            long long ihl = (first & 0x0F) * 4, total = g16(&g, l3 + 2), fr = g16(&g, l3 + 6);
            frag = (fr & 0x1FFF) != 0 || (fr & 0x2000) != 0;
            proto = g8(&g, l3 + 9);
            ip_end = total >= ihl ? l3 + total : pend;
            if (total == 0) ip_end = pend;
            l4 = l3 + ihl;
        } else {
            long long plen = g16(&g, l3 + 4), nh = g8(&g, l3 + 6);
            l4 = l3 + 40;
            frag = 0;
            for (int k = 0; k < 4; k++) {
                int ext = nh == 0 || nh == 43 || nh == 60, fr = nh == 44;
                if (!ext && !fr) break;
                if (fr) frag = 1;
                long long step = fr ? 8 : (g8(&g, l4 + 1) + 1) * 8;
                nh = g8(&g, l4);
                l4 += step;
            }
            ip_end = plen == 0 ? pend : l3 + 40 + plen;
            proto = nh;
        }
        if (frag) {
            frags++;
            continue;
        }
        int tcp = proto == 6 && pend - l4 >= 20, udp = proto == 17 && pend - l4 >= 8;
        if (!tcp && !udp) { /* truncated TCP/UDP, the other flow protocols, or no flow */
            long long need = l4_need(proto);
            if (proto == 6 || proto == 17 || (need >= 0 && pend - l4 < need)) {
                truncated++;
                continue;
            }
            if (need < 0) {
                other++;
                continue;
            }
        }
        o_keep[kept] = i;
        o_ts[kept] = ts[i];
        o_wirelen[kept] = wirelen[i];
        o_stream_off[kept] = stream_off[i];
        o_proto[kept] = (uint8_t)proto;
        if (is4) {
            o_shi[kept] = 0;
            o_dhi[kept] = 0;
            o_slo[kept] = V4PREFIX | (uint64_t)g32(&g, l3 + 12);
            o_dlo[kept] = V4PREFIX | (uint64_t)g32(&g, l3 + 16);
        } else {
            o_shi[kept] = g64(&g, l3 + 8);
            o_slo[kept] = g64(&g, l3 + 16);
            o_dhi[kept] = g64(&g, l3 + 24);
            o_dlo[kept] = g64(&g, l3 + 32);
        }
        long long hdr = 8;
        if (tcp) {
            o_sport[kept] = g16(&g, l4);
            o_dport[kept] = g16(&g, l4 + 2);
            long long doff = (g8(&g, l4 + 12) >> 4) * 4;
            hdr = doff > 20 ? doff : 20;
            o_flags[kept] = (uint8_t)g8(&g, l4 + 13);
            o_seq[kept] = g32(&g, l4 + 4);
        } else if (udp) {
            long long sp = g16(&g, l4), dp = g16(&g, l4 + 2);
            o_sport[kept] = sp;
            o_dport[kept] = dp;
            o_flags[kept] = 0;
            o_seq[kept] = 0;
            carriers += tunnel_port(dp) || tunnel_port(sp);
        } else {
            l4_t rare = rare_l4(g, proto, l4, pend);
            o_sport[kept] = rare.sport;
            o_dport[kept] = rare.dport;
            o_flags[kept] = (uint8_t)rare.flags;
            o_seq[kept] = 0;
            hdr = rare.hdr;
            carriers += proto == 47 || proto == 4 || proto == 41;
        }
        long long poff = l4 + hdr, plen = ip_end - poff;
        if (plen < 0) plen = 0;
        long long pcap = (ip_end < pend ? ip_end : pend) - poff;
        if (pcap < 0) pcap = 0;
        if (pcap > plen) pcap = plen;
        o_poff[kept] = poff;
        o_plen[kept] = plen;
        o_pcap[kept] = pcap;
        kept++;
    }
    release_buffers(v, NBUF);
    return Py_BuildValue("nLLLLLL", kept, non_ip, frags, other, truncated, unsupported, carriers);
}

/* carrier_rows(proto, sport, dport, proto_kind, port_kind, rows_out, kinds_out) -> count

   The packets of a decoded level that carry a tunnel, in order, and the kind of each
   (ENCAP_*): decode.py's _carrier_rows_numpy compiled (the twin, _carriers' non-zero
   rows; tests/test_tunnels.py compares them on random packets). ``proto_kind``: the kind
   by IP protocol (256 int64: GRE, IP-in-IP, IPv6), ``port_kind``: by UDP port (65,536
   bytes), the destination port's kind first, else the source port's. One pass where
   numpy looked up every packet's protocol and every UDP packet's two ports, then found
   the non-zero kinds (~5 numpy passes and gathers a level, every batch that has a
   carrier). */
static PyObject *carrier_rows(PyObject *self, PyObject *args) {
    PyObject *objs[7];
    Py_buffer v[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5], &objs[6]))
        return NULL;
    if (take_buffers(objs, v, 7, 5) < 0)
        return NULL;
    const uint8_t *proto = v[0].buf, *port_kind = v[4].buf;
    const int64_t *sport = v[1].buf, *dport = v[2].buf, *proto_kind = v[3].buf;
    int64_t *rows_out = v[5].buf, *kinds_out = v[6].buf;
    Py_ssize_t n = v[0].len, count = 0;
    int bad = v[1].len / 8 < n || v[2].len / 8 < n || v[3].len < 256 * 8 || v[4].len < 65536 ||
              v[5].len / 8 < n || v[6].len / 8 < n;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int64_t k = proto_kind[proto[i]];
        if (proto[i] == 17) {
            int64_t sp = sport[i], dp = dport[i];
            if ((uint64_t)sp > 65535 || (uint64_t)dp > 65535) {
                bad = 1;
                break;
            }
            k = port_kind[dp];
            if (!k) k = port_kind[sp];
        }
        if (k) {
            rows_out[count] = i;
            kinds_out[count] = k;
            count++;
        }
    }
    release_buffers(v, 7);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "carrier_rows: a port out of range or a short column");
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

/* decap_batch(buf, kinds, off, cap, wire, link_out, off_out, cap_out, wire_out, encap_out,
               ident_out, key_out) -> (malformed, non_ip, fragments)

   The encapsulation header of each tunnel carrier, exactly as decode.py's py_decap (whose
   docstring cites each format's source): what is inside (its link type, 0 for nothing to
   decode), where it starts and how long it is, the encapsulation, its identifier and the
   part of it that names the tunnel both ways. */
enum {
    ENC_VXLAN = 1, ENC_GENEVE, ENC_GTPU, ENC_CAPWAP, ENC_TEREDO, ENC_GRE, ENC_ERSPAN1,
    ENC_ERSPAN2, ENC_ERSPAN3, ENC_PPTP, ENC_IPIP, ENC_IP6
};
enum { R_INNER, R_MALFORMED, R_NON_IP, R_FRAGMENT, R_NONE, GTPU_MAX_EXT = 4 };

typedef struct {
    int res;
    long long link, hdr, ident, key, encap;
} decap_t;

static decap_t decap_gre(const gb_t *g, long long o, long long c) {
    decap_t d = {R_MALFORMED, 0, 0, -1, 0, ENC_GRE};
    long long flags = g16(g, o), ptype = g16(g, o + 2), ver = flags & 7;
    int csum = (flags & 0x8000) != 0, routed = (flags & 0x4000) != 0;
    int keyed = (flags & 0x2000) != 0, seqd = (flags & 0x1000) != 0, ack = (flags & 0x0080) != 0;
    long long h = ver == 1 ? 8 + (seqd ? 4 : 0) + (ack ? 4 : 0)
                           : 4 + (csum ? 4 : 0) + (keyed ? 4 : 0) + (seqd ? 4 : 0);
    if (c < 4 || (ver != 0 && ver != 1) || (flags & 0x0778) || routed) return d;
    if (ver == 1 && (csum || (flags & 0x0800) || !keyed || ptype != 0x880B)) return d;
    if (h > c) return d;
    d.hdr = h;
    if (ver == 1) { /* PPTP */
        d.encap = ENC_PPTP;
        d.link = 9;
        d.ident = g16(g, o + 6);
        d.res = g16(g, o + 4) != 0 ? R_INNER : R_NONE;
        return d;
    }
    d.ident = keyed ? g32(g, o + 4 + (csum ? 4 : 0)) : -1;
    long long e = o + h, word = g32(g, e), session = word & 0x3FF;
    if (ptype == 0x0800 || ptype == 0x86DD || ptype == 0x6558) {
        d.link = ptype == 0x6558 ? 1 : 101;
        d.res = R_INNER;
    } else if (ptype == 0x88BE && !seqd) {
        d.encap = ENC_ERSPAN1;
        d.link = 1;
        d.ident = -1;
        d.res = R_INNER;
    } else if (ptype == 0x88BE) {
        d.encap = ENC_ERSPAN2;
        d.link = 1;
        d.hdr = h + 8;
        d.ident = d.key = session;
        d.res = h + 8 <= c && (word >> 28) == 1 ? R_INNER : R_MALFORMED;
    } else if (ptype == 0x22EB) {
        long long h3 = h + 12 + ((g8(g, e + 11) & 1) ? 8 : 0), frame = (g16(g, e + 10) >> 10) & 0x1F;
        d.encap = ENC_ERSPAN3;
        d.hdr = h3;
        d.ident = d.key = session;
        d.link = frame == 0 ? 1 : (frame == 2 ? 101 : 0);
        if (!(h + 12 <= c && (word >> 28) == 2 && h3 <= c)) d.res = R_MALFORMED;
        else d.res = d.link ? R_INNER : R_NON_IP;
    } else if (ptype == 0x8847 || ptype == 0x8848) {
        long long after = e;
        int what = mpls_stack(g, e, o + c, &after);
        if (what < 0) return d;
        d.link = what == 1 ? 1 : ((what == 4 || what == 6) ? 101 : 0);
        d.hdr = after - o + (what == 1 ? 4 : 0);
        d.res = d.link ? R_INNER : R_NON_IP;
    } else {
        d.res = R_NON_IP;
    }
    return d;
}

static decap_t decap_one(const gb_t *g, long long kind, long long o, long long c, long long w) {
    decap_t d = {R_MALFORMED, 0, 0, -1, 0, kind};
    long long b0 = g8(g, o), b1 = g8(g, o + 1), b7 = g8(g, o + 7), vni = g32(g, o + 4) >> 8, h;
    switch (kind) {
    case ENC_VXLAN:
        if (c < 8 + 14 || !(b0 & 0x08) || b7 != 0) return d;
        d.res = R_INNER, d.link = 1, d.hdr = 8, d.ident = d.key = vni;
        return d;
    case ENC_GENEVE: {
        h = 8 + (b0 & 0x3F) * 4;
        if (c < 8 || (b0 >> 6) != 0 || (b1 & 0x3F) != 0 || b7 != 0 || h > c) return d;
        long long ptype = g16(g, o + 2);
        d.link = ptype == 0x6558 ? 1 : ((ptype == 0x0800 || ptype == 0x86DD) ? 101 : 0);
        d.res = d.link ? R_INNER : R_NON_IP, d.hdr = h, d.ident = d.key = vni;
        return d;
    }
    case ENC_GTPU: {
        h = (b0 & 7) ? 12 : 8;
        if (c < 8 || (b0 >> 5) != 1 || !(b0 & 0x10) || h > c) return d;
        long long next = (b0 & 4) ? g8(g, o + 11) : 0;
        for (int k = 0; k < GTPU_MAX_EXT && next; k++) {
            long long size = g8(g, o + h) * 4;
            if (size == 0 || h + size > c) return d;
            next = g8(g, o + h + size - 1);
            h += size;
        }
        if (next) return d;
        d.res = b1 == 0xFF ? R_INNER : R_NONE, d.link = 101, d.hdr = h, d.ident = g32(g, o + 4);
        return d;
    }
    case ENC_CAPWAP: {
        if (c < 8 || (b0 >> 4) != 0) return d;
        if ((b0 & 0x0F) == 1) { /* DTLS */
            d.res = R_NONE;
            return d;
        }
        if ((b0 & 0x0F) != 0) return d;
        long long word = g32(g, o) & 0xFFFFFF;
        h = (word >> 19) * 4;
        if (h < 8 || h > c) return d;
        if ((word >> 7) & 1) {
            d.res = R_FRAGMENT;
            return d;
        }
        if ((word >> 3) & 1) { /* keep-alive */
            d.res = R_NONE;
            return d;
        }
        long long fc0 = g8(g, o + h), fc1 = g8(g, o + h + 1);
        int swapped = (fc0 & 3) != 0 && (fc1 & 3) == 0;
        if (((word >> 8) & 1) == 0) d.link = 1;
        else if (((word >> 9) & 0x1F) == 1) d.link = swapped ? LINK_DOT11_SWAPPED : 105;
        d.res = d.link ? R_INNER : R_NON_IP, d.hdr = h;
        return d;
    }
    case ENC_TEREDO: {
        long long pos = o;
        if (c >= 4 && g16(g, pos) == 0x0001) pos += 4 + g8(g, pos + 2) + g8(g, pos + 3) + 9;
        if (pos + 8 <= o + c && g16(g, pos) == 0) pos += 8;
        h = pos - o;
        if (c - h >= 40 && (g8(g, pos) >> 4) == 6 && w - h == 40 + g16(g, pos + 4))
            d.res = R_INNER, d.link = 101, d.hdr = h;
        return d;
    }
    case ENC_GRE:
        return decap_gre(g, o, c);
    case ENC_IPIP:
    case ENC_IP6:
        d.res = R_INNER, d.link = 101;
        return d;
    default:
        return d;
    }
}

static PyObject *decap_batch(PyObject *self, PyObject *args) {
    PyObject *objs[12];
    Py_buffer v[12];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11]))
        return NULL;
    if (take_buffers(objs, v, 12, 5) < 0)
        return NULL;
    gb_t g = {(const unsigned char *)v[0].buf, v[0].len - 8};
    const int64_t *kind = v[1].buf, *off = v[2].buf, *cap = v[3].buf, *wire = v[4].buf;
    int64_t *o_link = v[5].buf, *o_off = v[6].buf, *o_cap = v[7].buf, *o_wire = v[8].buf;
    int64_t *o_encap = v[9].buf, *o_ident = v[10].buf, *o_key = v[11].buf;
    Py_ssize_t n = v[1].len / (Py_ssize_t)sizeof(int64_t);
    long long counts[5] = {0, 0, 0, 0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        decap_t d = decap_one(&g, kind[i], off[i], cap[i], wire[i]);
        int inner = d.res == R_INNER;
        counts[d.res]++;
        o_link[i] = inner ? d.link : 0;
        o_off[i] = inner ? off[i] + d.hdr : 0;
        o_cap[i] = inner ? cap[i] - d.hdr : 0;
        o_wire[i] = inner ? wire[i] - d.hdr : 0;
        o_encap[i] = inner ? d.encap : kind[i];
        o_ident[i] = inner ? d.ident : -1;
        o_key[i] = inner ? d.key : 0;
    }
    release_buffers(v, 12);
    return Py_BuildValue("LLL", counts[R_MALFORMED], counts[R_NON_IP], counts[R_FRAGMENT]);
}

/* ------------------------------------------------------------- pcap record fields */
/* pcap_fields(buf, offsets, little, unit, caplen_out, wirelen_out, ts_out, lengths=0): the
   record header fields of every record, exactly as source/pcap.py's numpy gather computes
   them (ts = sec + frac * unit in double precision; caplen as record_caplen says; wirelen
   the larger length, so never below caplen). */
static PyObject *pcap_fields(PyObject *self, PyObject *args) {
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
static PyObject *flow_group(PyObject *self, PyObject *args) {
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

enum {
    ST_FIN_A = 2, ST_FIN_B = 4, ST_RST = 8, ST_SYN_A = 16, ST_SYN_B = 32,
};


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

static PyObject *flow_behaviour(PyObject *self, PyObject *args) {
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

/* flow_update(group, slots, src_first, flags, wirelen, payload_len, ts, seq, pkt_slot_out,
               pkts_a, pkts_b, bytes_a, bytes_b, payload_a, payload_b, flags_a, flags_b,
               last_ts, state, isn_a, isn_b, proto, behaviour) -> count: the 12 after
   pkt_slot_out are flow-table columns. behaviour: None, or flow_behaviour's last 22
   arguments (client_is_a ... checkpoints_out) as a tuple, to do its work in this loop as
   well (it ran as a loop of its own over the batch before: ~0.4 % more instructions on
   the generated bench input, callgrind); count is then its return, else 0. */
static PyObject *flow_update(PyObject *self, PyObject *args) {
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
        if (src_first[i]) {
            pkts_a[s] += 1;
            bytes_a[s] += (uint64_t)wirelen[i];
            uint64_t p = (uint64_t)pay_a[s] + pl;
            pay_a[s] = p > 0xFFFFFFFFULL ? 0xFFFFFFFFU : (uint32_t)p;
            fl_a[s] |= f;
            if (f & 0x01) state[s] |= ST_FIN_A;
            if (f & 0x02) {
                isn_a[s] = (uint32_t)(seq[i] + 1);
                state[s] |= ST_SYN_A;
            }
        } else {
            pkts_b[s] += 1;
            bytes_b[s] += (uint64_t)wirelen[i];
            uint64_t p = (uint64_t)pay_b[s] + pl;
            pay_b[s] = p > 0xFFFFFFFFULL ? 0xFFFFFFFFU : (uint32_t)p;
            fl_b[s] |= f;
            if (f & 0x01) state[s] |= ST_FIN_B;
            if (f & 0x02) {
                isn_b[s] = (uint32_t)(seq[i] + 1);
                state[s] |= ST_SYN_B;
            }
        }
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

static PyObject *flow_fill(PyObject *self, PyObject *args) {
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
static PyObject *flow_verify(PyObject *self, PyObject *args) {
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
static PyObject *sweep_flags(PyObject *self, PyObject *args) {
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

/* pdns_groups(pdns, table, stamp, distinct, last, times, max_names, max_ips, expire_every)

   PassiveDns.add_groups (detector/pdns.py), whose Python loop is the reference: the
   distinct answers of a batch, taken in the order of their last message, each as
   add_answer would - every IP of the answer moves to the end of ``table`` (least
   recently answered first) with the answer's names (questions, then CNAMEs not among
   the questions; at most max_names per IP), and ``stamp`` notes the time. When a new IP
   makes the table too big, or every expire_every new IPs, it calls the object's own
   _drop_oldest / _expire(ts), as the Python loop does. */
static int pdns_by_last(const void *a, const void *b) {
    const Py_ssize_t *x = (const Py_ssize_t *)a, *y = (const Py_ssize_t *)b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]); /* sorted() is stable: ties keep group order */
}

static PyObject *pdns_names_of(PyObject *questions, PyObject *cnames) {
    /* questions + [c for c in cnames if c not in questions], or questions itself */
    if (PyList_GET_SIZE(cnames) == 0) {
        Py_INCREF(questions);
        return questions;
    }
    PyObject *names = PyList_GetSlice(questions, 0, PyList_GET_SIZE(questions));
    if (!names)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(cnames); i++) {
        PyObject *c = PyList_GET_ITEM(cnames, i);
        int found = PySequence_Contains(questions, c);
        if (found < 0 || (!found && PyList_Append(names, c) < 0)) {
            Py_DECREF(names);
            return NULL;
        }
    }
    return names;
}

static int pdns_answer(PyObject *pdns, PyObject *table, PyObject *stamp, PyObject *ips,
                       PyObject *names, PyObject *ts, Py_ssize_t max_names, Py_ssize_t max_ips,
                       Py_ssize_t expire_every) {
    Py_ssize_t n_names = PyList_GET_SIZE(names);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ips); i++) {
        PyObject *ip = PyList_GET_ITEM(ips, i);
        Py_INCREF(ip); /* a callback below may drop the last other reference */
        PyObject *entry = PyDict_GetItemWithError(table, ip);
        int ok = entry != NULL || !PyErr_Occurred();
        if (ok && entry) {
            Py_INCREF(entry);
            ok = PyDict_DelItem(table, ip) == 0;
        }
        ok = ok && PyDict_SetItem(stamp, ip, ts) == 0;
        if (ok && entry == NULL) {
            PyObject *fresh = PyDict_New();
            ok = fresh != NULL;
            for (Py_ssize_t k = 0; ok && k < n_names && k < max_names; k++)
                ok = PyDict_SetItem(fresh, PyList_GET_ITEM(names, k), ts) == 0;
            ok = ok && PyDict_SetItem(table, ip, fresh) == 0;
            Py_XDECREF(fresh);
            if (ok) {
                Py_ssize_t size = PyDict_GET_SIZE(table);
                PyObject *r = NULL;
                if (size > max_ips)
                    r = PyObject_CallMethod(pdns, "_drop_oldest", NULL);
                else if (expire_every > 0 && size % expire_every == 0)
                    r = PyObject_CallMethod(pdns, "_expire", "O", ts);
                if ((size > max_ips || (expire_every > 0 && size % expire_every == 0)) && !r)
                    ok = 0;
                Py_XDECREF(r);
            }
        } else if (ok) {
            ok = PyDict_SetItem(table, ip, entry) == 0; /* now the most recently answered */
            for (Py_ssize_t k = 0; ok && k < n_names; k++) {
                PyObject *name = PyList_GET_ITEM(names, k);
                int has = PyDict_Contains(entry, name);
                ok = has >= 0;
                if (ok && (has || PyDict_GET_SIZE(entry) < max_names))
                    ok = PyDict_SetItem(entry, name, ts) == 0;
            }
        }
        Py_XDECREF(entry);
        Py_DECREF(ip);
        if (!ok)
            return -1;
    }
    return 0;
}

static PyObject *pdns_groups(PyObject *self, PyObject *args) {
    PyObject *pdns, *table, *stamp, *distinct, *last, *times;
    Py_ssize_t max_names, max_ips, expire_every;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!O!nnn", &pdns, &PyDict_Type, &table, &PyDict_Type,
                          &stamp, &PyList_Type, &distinct, &PyList_Type, &last, &PyList_Type,
                          &times, &max_names, &max_ips, &expire_every))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(distinct);
    if (PyList_GET_SIZE(last) != n) {
        PyErr_SetString(PyExc_ValueError, "distinct and last differ in length");
        return NULL;
    }
    Py_ssize_t *order = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (size_t)(n ? n : 1));
    if (!order)
        return PyErr_NoMemory();
    for (Py_ssize_t g = 0; g < n; g++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(last, g));
        if (at == -1 && PyErr_Occurred()) {
            PyMem_Free(order);
            return NULL;
        }
        if (at < 0 || at >= PyList_GET_SIZE(times)) {
            PyMem_Free(order);
            PyErr_SetString(PyExc_IndexError, "last message index outside times");
            return NULL;
        }
        order[2 * g] = at;
        order[2 * g + 1] = g;
    }
    qsort(order, (size_t)n, 2 * sizeof(Py_ssize_t), pdns_by_last);
    /* Hold the lists: a callback into Python must not free what we iterate. */
    Py_INCREF(distinct);
    Py_INCREF(times);
    int ok = 1;
    for (Py_ssize_t k = 0; ok && k < n; k++) {
        PyObject *item = PyList_GET_ITEM(distinct, order[2 * k + 1]);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3 ||
            !PyList_Check(PyTuple_GET_ITEM(item, 0)) || !PyList_Check(PyTuple_GET_ITEM(item, 1)) ||
            !PyList_Check(PyTuple_GET_ITEM(item, 2))) {
            PyErr_SetString(PyExc_TypeError, "an answer is (questions, cnames, ips) lists");
            ok = 0;
            break;
        }
        Py_INCREF(item);
        PyObject *ips = PyTuple_GET_ITEM(item, 2);
        if (PyList_GET_SIZE(ips) > 0) {
            PyObject *names = pdns_names_of(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
            ok = names != NULL;
            if (ok && PyList_GET_SIZE(names) > 0) {
                PyObject *ts = PyList_GET_ITEM(times, order[2 * k]);
                Py_INCREF(ts);
                ok = pdns_answer(pdns, table, stamp, ips, names, ts, max_names, max_ips,
                                 expire_every) == 0;
                Py_DECREF(ts);
            }
            Py_XDECREF(names);
        }
        Py_DECREF(item);
    }
    Py_DECREF(distinct);
    Py_DECREF(times);
    PyMem_Free(order);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* trees_raw(feature, threshold, missing_left, left, right, leaf, value, roots, x, out,
             baseline[, low, high, rest_max, rest_min]) -> None

   The boosted trees' raw scores (detector/trees.py, CompiledTrees.raw; its numpy walk is
   the twin): for each row of x (float64, rows x n_features, C order), baseline plus each
   tree's leaf value added in tree order, as scikit-learn's predictor adds them. Node
   arrays as CompiledTrees holds them: int64 feature/left/right/roots, float64
   threshold/value, bool (one byte) missing_left/leaf. A NaN goes where missing_left says.
   Why in C: the numpy walk gathers (rows x 300 trees) arrays at every depth, ~120 us a
   row; a poller's checkpoints made the scored rows of a real-traffic scan three times as
   many. Node indices are checked (a malformed model raises, never reads out of range).

   With ``low``/``high`` and the bounds of what the trees from t on can still add
   (``rest_max[t]``, ``rest_min[t]``, float64, one more than the trees), a row whose sum so
   far plus everything the rest could add stays below ``low`` gets -inf, one whose sum plus
   the least they could add stays above ``high`` gets +inf, and its walk stops there: the
   caller passes the raw scores beyond which the calibration is flat (CompiledTrees.settle),
   so the probability is the same; nine rows in ten of a scan settle by tree ~150. */
/* trees_raw's settling step: of the ``count`` rows in ``active``, those whose sum so far
   (``out``) plus the most (``rest_max``) the trees still to come can add stays below ``low``
   get -inf, those plus the least (``rest_min``) above ``high`` +inf; the others stay
   active (returned: how many). */
static Py_ssize_t trees_settle(double *out, Py_ssize_t *active, Py_ssize_t count, double low,
                               double high, double rest_max, double rest_min) {
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t r = active[k];
        if (out[r] + rest_max < low) out[r] = -HUGE_VAL;
        else if (out[r] + rest_min > high) out[r] = HUGE_VAL;
        else active[kept++] = r;
    }
    return kept;
}

static PyObject *trees_raw(PyObject *self, PyObject *args) {
    PyObject *objs[12];
    Py_buffer v[12];
    double baseline, low = 0.0, high = 0.0;
    objs[10] = objs[11] = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOd|ddOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &baseline, &low, &high, &objs[10], &objs[11]))
        return NULL;
    int settle = objs[10] != NULL && objs[11] != NULL;
    if (take_buffers(objs, v, settle ? 12 : 10, 9) < 0)
        return NULL;
    const int64_t *feature = v[0].buf;
    const double *threshold = v[1].buf;
    const uint8_t *missing_left = v[2].buf;
    const int64_t *left = v[3].buf, *right = v[4].buf;
    const uint8_t *leaf = v[5].buf;
    const double *value = v[6].buf;
    const int64_t *roots = v[7].buf;
    const double *x = v[8].buf;
    double *out = v[9].buf;
    Py_ssize_t nodes = v[0].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t ntrees = v[7].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t rows = v[9].len / (Py_ssize_t)sizeof(double);
    int bad = v[1].len < nodes * 8 || v[2].len < nodes || v[3].len < nodes * 8 ||
              v[4].len < nodes * 8 || v[5].len < nodes || v[6].len < nodes * 8;
    Py_ssize_t nf = rows ? v[8].len / (Py_ssize_t)sizeof(double) / rows : 0;
    if (rows && nf * rows * (Py_ssize_t)sizeof(double) != v[8].len) bad = 1;
    const double *rest_max = settle ? v[10].buf : NULL, *rest_min = settle ? v[11].buf : NULL;
    if (settle && (v[10].len < (ntrees + 1) * 8 || v[11].len < (ntrees + 1) * 8)) bad = 1;
    /* Tree-major over blocks of TREE_ROWS rows: one tree's nodes (~60, 2 KB) stay in L1
       while the block's rows walk it; row-major walked all 18,300 nodes (600 KB, seven
       arrays) per row. Each row still adds its trees' values in tree order, from the
       baseline, so the sums are the same bits as row by row (and as the numpy twin).
       ``active`` holds the block's rows still walking; settling is tried every
       SETTLE_EVERY trees. */
    enum { TREE_ROWS = 256, SETTLE_EVERY = 16 };
    Py_ssize_t active[TREE_ROWS];
    for (Py_ssize_t r = 0; r < rows; r++) out[r] = baseline;
    /* A model whose every split names a feature of the rows and whose children come after
       their parent (scikit-learn's predictor lays its nodes out depth first), with every
       root a node, is walked without the per-step range and loop checks: each walk then
       ends at a leaf in fewer steps than there are nodes. Checked once per call (a few
       instructions per node), it nearly halved the walk's instructions (callgrind). */
    int sound = !bad;
    for (Py_ssize_t t = 0; t < ntrees && sound; t++)
        sound = roots[t] >= 0 && roots[t] < nodes;
    for (Py_ssize_t i = 0; i < nodes && sound; i++)
        sound = leaf[i] || (feature[i] >= 0 && feature[i] < nf && left[i] > i &&
                            left[i] < nodes && right[i] > i && right[i] < nodes);
    if (sound) {
        for (Py_ssize_t lo = 0; lo < rows; lo += TREE_ROWS) {
            Py_ssize_t hi = lo + TREE_ROWS < rows ? lo + TREE_ROWS : rows, count = hi - lo;
            for (Py_ssize_t k = 0; k < count; k++) active[k] = lo + k;
            for (Py_ssize_t t = 0; t < ntrees && count; t++) {
                int64_t root = roots[t];
                for (Py_ssize_t k = 0; k < count; k++) {
                    Py_ssize_t r = active[k];
                    const double *row = x + r * nf;
                    int64_t node = root;
                    while (!leaf[node]) {
                        double xv = row[feature[node]];
                        int go_left = xv != xv ? missing_left[node] : xv <= threshold[node];
                        node = go_left ? left[node] : right[node];
                    }
                    out[r] += value[node];
                }
                if (settle && (t + 1) % SETTLE_EVERY == 0 && t + 1 < ntrees)
                    count = trees_settle(out, active, count, low, high, rest_max[t + 1],
                                         rest_min[t + 1]);
            }
        }
        rows = 0; /* done: the checked walk below has nothing left */
    }
    for (Py_ssize_t lo = 0; lo < rows && !bad; lo += TREE_ROWS) {
        Py_ssize_t hi = lo + TREE_ROWS < rows ? lo + TREE_ROWS : rows, count = hi - lo;
        for (Py_ssize_t k = 0; k < count; k++) active[k] = lo + k;
        for (Py_ssize_t t = 0; t < ntrees && !bad && count; t++) {
            for (Py_ssize_t k = 0; k < count && !bad; k++) {
                Py_ssize_t r = active[k];
                const double *row = x + r * nf;
                int64_t node = roots[t];
                for (Py_ssize_t steps = 0;; steps++) {
                    if (node < 0 || node >= nodes || steps > nodes) { bad = 1; break; }
                    if (leaf[node]) { out[r] += value[node]; break; }
                    int64_t f = feature[node];
                    if (f < 0 || f >= nf) { bad = 1; break; }
                    double xv = row[f];
                    int go_left = xv != xv ? missing_left[node] : xv <= threshold[node];
                    node = go_left ? left[node] : right[node];
                }
            }
            if (settle && (t + 1) % SETTLE_EVERY == 0 && t + 1 < ntrees)
                count = trees_settle(out, active, count, low, high, rest_max[t + 1],
                                     rest_min[t + 1]);
        }
    }
    release_buffers(v, settle ? 12 : 10);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "tree node, feature or buffer size out of range");
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
static PyObject *zero_rows(PyObject *self, PyObject *args) {
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

static PyObject *index_drop(PyObject *self, PyObject *args) {
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
static PyObject *index_merge(PyObject *self, PyObject *args) {
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
static PyObject *fanout_owners(PyObject *self, PyObject *args) {
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

/* ---- QUIC Initial protection (dissect/quic.py; twin: the `cryptography` package) ----
 * AES-128 (FIPS-197) block encryption, for header protection (RFC 9001 §5.4.3: AES-ECB
 * of one sample), and AES-128-GCM decryption with tag check (NIST SP 800-38D), for an
 * Initial's payload (§5.3). The keys are public (derived from the packet itself), so no
 * constant-time care is taken. Tables: T-tables built from the S-box, which is computed
 * at first use (multiplicative inverse in GF(2^8) and the affine map); GHASH by 4-bit
 * tables (Shoup's method). */

static uint8_t aes_sbox[256];
static uint32_t aes_te[4][256];
static int aes_ready = 0;

static uint8_t rotl8(uint8_t x, int n) { return (uint8_t)((x << n) | (x >> (8 - n))); }

static void aes_init_tables(void) {
    uint8_t p = 1, q = 1;
    do { /* p runs over the generator 3's powers, q over their inverses */
        p = (uint8_t)(p ^ (p << 1) ^ ((p & 0x80) ? 0x1B : 0));
        q ^= (uint8_t)(q << 1);
        q ^= (uint8_t)(q << 2);
        q ^= (uint8_t)(q << 4);
        if (q & 0x80) q ^= 0x09;
        aes_sbox[p] = (uint8_t)(q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63);
    } while (p != 1);
    aes_sbox[0] = 0x63;
    for (int x = 0; x < 256; x++) {
        uint32_t s = aes_sbox[x];
        uint32_t s2 = (uint32_t)(uint8_t)((s << 1) ^ ((s & 0x80) ? 0x1B : 0));
        uint32_t s3 = s2 ^ s;
        uint32_t w = (s2 << 24) | (s << 16) | (s << 8) | s3;
        aes_te[0][x] = w;
        aes_te[1][x] = (w >> 8) | (w << 24);
        aes_te[2][x] = (w >> 16) | (w << 16);
        aes_te[3][x] = (w >> 24) | (w << 8);
    }
    aes_ready = 1;
}

static void aes128_expand(const unsigned char *key, uint32_t rk[44]) {
    static const uint32_t rcon[10] = {0x01000000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                                      0x20000000, 0x40000000, 0x80000000, 0x1B000000, 0x36000000};
    if (!aes_ready) aes_init_tables();
    for (int i = 0; i < 4; i++) rk[i] = rd32(key + 4 * i, 0);
    for (int i = 4; i < 44; i++) {
        uint32_t t = rk[i - 1];
        if (i % 4 == 0) {
            t = ((uint32_t)aes_sbox[(t >> 16) & 0xFF] << 24) | ((uint32_t)aes_sbox[(t >> 8) & 0xFF] << 16) |
                ((uint32_t)aes_sbox[t & 0xFF] << 8) | (uint32_t)aes_sbox[t >> 24];
            t ^= rcon[i / 4 - 1];
        }
        rk[i] = rk[i - 4] ^ t;
    }
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void aes128_block(const uint32_t rk[44], const unsigned char in[16], unsigned char out[16]) {
    uint32_t s0 = rd32(in, 0) ^ rk[0], s1 = rd32(in + 4, 0) ^ rk[1];
    uint32_t s2 = rd32(in + 8, 0) ^ rk[2], s3 = rd32(in + 12, 0) ^ rk[3];
    uint32_t t0, t1, t2, t3;
    for (int r = 1; r < 10; r++) {
        const uint32_t *k = rk + 4 * r;
        t0 = aes_te[0][s0 >> 24] ^ aes_te[1][(s1 >> 16) & 0xFF] ^ aes_te[2][(s2 >> 8) & 0xFF] ^ aes_te[3][s3 & 0xFF] ^ k[0];
        t1 = aes_te[0][s1 >> 24] ^ aes_te[1][(s2 >> 16) & 0xFF] ^ aes_te[2][(s3 >> 8) & 0xFF] ^ aes_te[3][s0 & 0xFF] ^ k[1];
        t2 = aes_te[0][s2 >> 24] ^ aes_te[1][(s3 >> 16) & 0xFF] ^ aes_te[2][(s0 >> 8) & 0xFF] ^ aes_te[3][s1 & 0xFF] ^ k[2];
        t3 = aes_te[0][s3 >> 24] ^ aes_te[1][(s0 >> 16) & 0xFF] ^ aes_te[2][(s1 >> 8) & 0xFF] ^ aes_te[3][s2 & 0xFF] ^ k[3];
        s0 = t0; s1 = t1; s2 = t2; s3 = t3;
    }
    const uint32_t *k = rk + 40;
#define AES_LAST(a, b, c, d) \
    (((uint32_t)aes_sbox[(a) >> 24] << 24) | ((uint32_t)aes_sbox[((b) >> 16) & 0xFF] << 16) | \
     ((uint32_t)aes_sbox[((c) >> 8) & 0xFF] << 8) | (uint32_t)aes_sbox[(d) & 0xFF])
    put32(out, AES_LAST(s0, s1, s2, s3) ^ k[0]);
    put32(out + 4, AES_LAST(s1, s2, s3, s0) ^ k[1]);
    put32(out + 8, AES_LAST(s2, s3, s0, s1) ^ k[2]);
    put32(out + 12, AES_LAST(s3, s0, s1, s2) ^ k[3]);
#undef AES_LAST
}

typedef struct { uint64_t hi, lo; } u128;

static uint64_t rd64(const unsigned char *p) {
    return ((uint64_t)rd32(p, 0) << 32) | (uint64_t)rd32(p + 4, 0);
}

static void gcm_init_4bit(u128 table[16], const unsigned char h[16]) {
    u128 v = {rd64(h), rd64(h + 8)};
    table[0].hi = table[0].lo = 0;
    table[8] = v;
    for (int i = 4; i > 0; i >>= 1) { /* v * x^-1, reduced: H/2, H/4, H/8 */
        uint64_t t = 0xE100000000000000ULL & (0 - (v.lo & 1));
        v.lo = (v.hi << 63) | (v.lo >> 1);
        v.hi = (v.hi >> 1) ^ t;
        table[i] = v;
    }
    for (int i = 2; i < 16; i <<= 1)
        for (int j = 1; j < i; j++) {
            table[i + j].hi = table[i].hi ^ table[j].hi;
            table[i + j].lo = table[i].lo ^ table[j].lo;
        }
}

static const uint64_t gcm_rem_4bit[16] = {
    0x0000ULL << 48, 0x1C20ULL << 48, 0x3840ULL << 48, 0x2460ULL << 48,
    0x7080ULL << 48, 0x6CA0ULL << 48, 0x48C0ULL << 48, 0x54E0ULL << 48,
    0xE100ULL << 48, 0xFD20ULL << 48, 0xD940ULL << 48, 0xC560ULL << 48,
    0x9180ULL << 48, 0x8DA0ULL << 48, 0xA9C0ULL << 48, 0xB5E0ULL << 48,
};

/* x := x * H in GF(2^128), GCM's bit order */
static void gcm_gmult_4bit(unsigned char x[16], const u128 table[16]) {
    int cnt = 15;
    unsigned nlo = x[15], nhi = nlo >> 4, rem;
    nlo &= 0xF;
    u128 z = table[nlo];
    for (;;) {
        rem = (unsigned)(z.lo & 0xF);
        z.lo = (z.hi << 60) | (z.lo >> 4);
        z.hi = (z.hi >> 4) ^ gcm_rem_4bit[rem];
        z.hi ^= table[nhi].hi;
        z.lo ^= table[nhi].lo;
        if (--cnt < 0) break;
        nlo = x[cnt];
        nhi = nlo >> 4;
        nlo &= 0xF;
        rem = (unsigned)(z.lo & 0xF);
        z.lo = (z.hi << 60) | (z.lo >> 4);
        z.hi = (z.hi >> 4) ^ gcm_rem_4bit[rem];
        z.hi ^= table[nlo].hi;
        z.lo ^= table[nlo].lo;
    }
    put32(x, (uint32_t)(z.hi >> 32));
    put32(x + 4, (uint32_t)z.hi);
    put32(x + 8, (uint32_t)(z.lo >> 32));
    put32(x + 12, (uint32_t)z.lo);
}

static void gcm_ghash(unsigned char x[16], const u128 table[16], const unsigned char *data, Py_ssize_t len) {
    while (len > 0) {
        Py_ssize_t n = len < 16 ? len : 16;
        for (Py_ssize_t i = 0; i < n; i++) x[i] ^= data[i];
        gcm_gmult_4bit(x, table);
        data += n;
        len -= n;
    }
}

/* aes128_block(key, block) -> the 16-byte AES-128 encryption of one block */
static PyObject *aes128_block_py(PyObject *self, PyObject *args) {
    Py_buffer key, block;
    if (!PyArg_ParseTuple(args, "y*y*", &key, &block))
        return NULL;
    PyObject *out = NULL;
    if (key.len != 16 || block.len != 16) {
        PyErr_SetString(PyExc_ValueError, "aes128_block: a 16-byte key and a 16-byte block");
    } else {
        uint32_t rk[44];
        unsigned char buf[16];
        aes128_expand((const unsigned char *)key.buf, rk);
        aes128_block(rk, (const unsigned char *)block.buf, buf);
        out = PyBytes_FromStringAndSize((const char *)buf, 16);
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&block);
    return out;
}

/* aes128_gcm_open(key, nonce, data, aad) -> plaintext, or None when the tag (the last
 * 16 bytes of data) does not match: cryptography's AESGCM(key).decrypt(nonce, data,
 * aad) without the exception. 12-byte nonces only (QUIC's). */
static PyObject *aes128_gcm_open(PyObject *self, PyObject *args) {
    Py_buffer key, nonce, data, aad;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &key, &nonce, &data, &aad))
        return NULL;
    PyObject *out = NULL;
    if (key.len != 16 || nonce.len != 12) {
        PyErr_SetString(PyExc_ValueError, "aes128_gcm_open: a 16-byte key and a 12-byte nonce");
        goto done;
    }
    if (data.len < 16) {
        out = Py_None;
        Py_INCREF(out);
        goto done;
    }
    {
        uint32_t rk[44];
        u128 table[16];
        unsigned char h[16] = {0}, j0[16], ctr[16], ks[16], x[16] = {0}, lens[16];
        const unsigned char *ct = (const unsigned char *)data.buf;
        Py_ssize_t ct_len = data.len - 16;
        aes128_expand((const unsigned char *)key.buf, rk);
        aes128_block(rk, h, h);
        gcm_init_4bit(table, h);
        gcm_ghash(x, table, (const unsigned char *)aad.buf, aad.len);
        gcm_ghash(x, table, ct, ct_len);
        uint64_t abits = (uint64_t)aad.len * 8, cbits = (uint64_t)ct_len * 8;
        put32(lens, (uint32_t)(abits >> 32));
        put32(lens + 4, (uint32_t)abits);
        put32(lens + 8, (uint32_t)(cbits >> 32));
        put32(lens + 12, (uint32_t)cbits);
        gcm_ghash(x, table, lens, 16);
        memcpy(j0, nonce.buf, 12);
        put32(j0 + 12, 1);
        aes128_block(rk, j0, ks);
        unsigned diff = 0;
        for (int i = 0; i < 16; i++) diff |= (unsigned)(ks[i] ^ x[i] ^ ct[ct_len + i]);
        if (diff) {
            out = Py_None;
            Py_INCREF(out);
            goto done;
        }
        out = PyBytes_FromStringAndSize(NULL, ct_len);
        if (out == NULL) goto done;
        unsigned char *pt = (unsigned char *)PyBytes_AS_STRING(out);
        memcpy(ctr, j0, 16);
        uint32_t counter = 1;
        for (Py_ssize_t off = 0; off < ct_len; off += 16) {
            put32(ctr + 12, ++counter);
            aes128_block(rk, ctr, ks);
            Py_ssize_t n = ct_len - off < 16 ? ct_len - off : 16;
            for (Py_ssize_t i = 0; i < n; i++) pt[off + i] = ct[off + i] ^ ks[i];
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&data);
    PyBuffer_Release(&aad);
    return out;
}

/* ---- QUIC Initial keys (dissect/quic.py client_keys; twin: hmac/hashlib there) ----
 * SHA-256 (FIPS 180-4), HMAC (RFC 2104) and TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1)
 * with an empty context, one block of output: the five HMACs of an Initial's keys
 * (RFC 9001 §5.2) without a Python call and an OpenSSL context each. */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_compress(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = rd32(p + 4 * i, 0);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    /* eight rounds per pass with the variables renamed, not moved */
#define SHA256_ROUND(a, b, c, d, e, f, g, h, i)                                                  \
    do {                                                                                         \
        uint32_t t1 = h + (ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25)) + (g ^ (e & (f ^ g))) +     \
                      sha256_k[i] + w[i];                                                        \
        uint32_t t2 = (ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22)) + ((a & b) | (c & (a | b)));   \
        d += t1;                                                                                 \
        h = t1 + t2;                                                                             \
    } while (0)
    for (int i = 0; i < 64; i += 8) {
        SHA256_ROUND(a, b, c, d, e, f, g, hh, i);
        SHA256_ROUND(hh, a, b, c, d, e, f, g, i + 1);
        SHA256_ROUND(g, hh, a, b, c, d, e, f, i + 2);
        SHA256_ROUND(f, g, hh, a, b, c, d, e, i + 3);
        SHA256_ROUND(e, f, g, hh, a, b, c, d, i + 4);
        SHA256_ROUND(d, e, f, g, hh, a, b, c, i + 5);
        SHA256_ROUND(c, d, e, f, g, hh, a, b, i + 6);
        SHA256_ROUND(b, c, d, e, f, g, hh, a, i + 7);
    }
#undef SHA256_ROUND
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

typedef struct {
    uint32_t h[8];
    unsigned char buf[64];
    size_t used;
    uint64_t total;
} sha256_ctx;

static void sha256_init(sha256_ctx *c) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->used = 0;
    c->total = 0;
}

static void sha256_update(sha256_ctx *c, const unsigned char *p, size_t n) {
    c->total += n;
    while (n > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used == 64) {
            sha256_compress(c->h, c->buf);
            c->used = 0;
        }
    }
}

static void sha256_final(sha256_ctx *c, unsigned char out[32]) {
    uint64_t bits = c->total * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (c->used < 56 ? 56 : 120) - c->used;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, pad, padlen + 8);
    for (int i = 0; i < 8; i++) put32(out + 4 * i, c->h[i]);
}

/* HMAC-SHA256 with its key's two padded blocks hashed once (several messages under one
 * key: the Initial secret's three labels) */
typedef struct {
    sha256_ctx inner, outer;
} hmac_key;

static void hmac_init(hmac_key *hk, const unsigned char *key, size_t klen) {
    unsigned char k[64] = {0}, pad[64];
    if (klen > 64) {
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, key, klen);
        sha256_final(&c, k);
    } else {
        memcpy(k, key, klen);
    }
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha256_init(&hk->inner);
    sha256_update(&hk->inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha256_init(&hk->outer);
    sha256_update(&hk->outer, pad, 64);
}

static void hmac_with(const hmac_key *hk, const unsigned char *msg, size_t mlen, unsigned char out[32]) {
    unsigned char inner[32];
    sha256_ctx c = hk->inner;
    sha256_update(&c, msg, mlen);
    sha256_final(&c, inner);
    c = hk->outer;
    sha256_update(&c, inner, 32);
    sha256_final(&c, out);
}

/* HKDF-Expand-Label(secret, prefix + name, "", length), length <= 32, under the secret's
 * HMAC key */
static void hkdf_label(const hmac_key *secret, const unsigned char *prefix, size_t plen,
                       const char *name, size_t length, unsigned char *out) {
    unsigned char info[2 + 1 + 255 + 1 + 1], digest[32];
    size_t nlen = strlen(name), full = 6 + plen + nlen, pos = 0;
    info[pos++] = (unsigned char)(length >> 8);
    info[pos++] = (unsigned char)length;
    info[pos++] = (unsigned char)full;
    memcpy(info + pos, "tls13 ", 6);
    pos += 6;
    memcpy(info + pos, prefix, plen);
    pos += plen;
    memcpy(info + pos, name, nlen);
    pos += nlen;
    info[pos++] = 0x00; /* empty context */
    info[pos++] = 0x01; /* HKDF-Expand's first block counter */
    hmac_with(secret, info, pos, digest);
    memcpy(out, digest, length);
}

/* the HMAC keys of the last salts seen (a version's salt is fixed: two in use) */
static struct {
    unsigned char salt[64];
    size_t len;
    hmac_key key;
} salt_keys[4];
static int salt_keys_used = 0;

static const hmac_key *salt_key(const unsigned char *salt, size_t len) {
    for (int i = 0; i < salt_keys_used; i++)
        if (salt_keys[i].len == len && memcmp(salt_keys[i].salt, salt, len) == 0)
            return &salt_keys[i].key;
    int slot = salt_keys_used < 4 ? salt_keys_used++ : 3;
    memcpy(salt_keys[slot].salt, salt, len);
    salt_keys[slot].len = len;
    hmac_init(&salt_keys[slot].key, salt, len);
    return &salt_keys[slot].key;
}

/* quic_client_keys(salt, dcid, prefix) -> (secret, hp): a client's Initial secret from its
 * Destination Connection ID and the version's salt, and its header-protection key under
 * the version's label prefix (b"quic " or b"quicv2 "); quic_key_iv gives the rest when a
 * packet's header unprotects plausibly (most that merely look like Initials never do) */
static PyObject *quic_client_keys(PyObject *self, PyObject *args) {
    Py_buffer salt, dcid, prefix;
    if (!PyArg_ParseTuple(args, "y*y*y*", &salt, &dcid, &prefix))
        return NULL;
    PyObject *out = NULL;
    if (prefix.len > 200) {
        PyErr_SetString(PyExc_ValueError, "quic_client_keys: label prefix too long");
    } else {
        unsigned char initial[32], secret[32], hp[16];
        hmac_key hk;
        if (salt.len <= 64) {
            hmac_with(salt_key((const unsigned char *)salt.buf, (size_t)salt.len),
                      (const unsigned char *)dcid.buf, (size_t)dcid.len, initial);
        } else {
            hmac_init(&hk, (const unsigned char *)salt.buf, (size_t)salt.len);
            hmac_with(&hk, (const unsigned char *)dcid.buf, (size_t)dcid.len, initial);
        }
        hmac_init(&hk, initial, 32);
        hkdf_label(&hk, (const unsigned char *)"", 0, "client in", 32, secret);
        hmac_init(&hk, secret, 32);
        hkdf_label(&hk, (const unsigned char *)prefix.buf, (size_t)prefix.len, "hp", 16, hp);
        out = Py_BuildValue("(y#y#)", (const char *)secret, (Py_ssize_t)32, (const char *)hp, (Py_ssize_t)16);
    }
    PyBuffer_Release(&salt);
    PyBuffer_Release(&dcid);
    PyBuffer_Release(&prefix);
    return out;
}

/* quic_key_iv(secret, prefix) -> (key, iv): AES-128-GCM packet protection of a traffic
 * secret (RFC 9001 §5.1) */
static PyObject *quic_key_iv(PyObject *self, PyObject *args) {
    Py_buffer secret, prefix;
    if (!PyArg_ParseTuple(args, "y*y*", &secret, &prefix))
        return NULL;
    PyObject *out = NULL;
    if (prefix.len > 200 || secret.len != 32) {
        PyErr_SetString(PyExc_ValueError, "quic_key_iv: a 32-byte secret and a short label prefix");
    } else {
        unsigned char key[16], iv[12];
        hmac_key hk;
        hmac_init(&hk, (const unsigned char *)secret.buf, 32);
        hkdf_label(&hk, (const unsigned char *)prefix.buf, (size_t)prefix.len, "key", 16, key);
        hkdf_label(&hk, (const unsigned char *)prefix.buf, (size_t)prefix.len, "iv", 12, iv);
        out = Py_BuildValue("(y#y#)", (const char *)key, (Py_ssize_t)16, (const char *)iv, (Py_ssize_t)12);
    }
    PyBuffer_Release(&secret);
    PyBuffer_Release(&prefix);
    return out;
}

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

static PyObject *rank_within(PyObject *self, PyObject *args) {
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
static PyObject *round_pick(PyObject *self, PyObject *args) {
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

/* inspect_triage(inspect, pkt_slot, src_first, payload_len, proto, sport, dport, dns_ports,
                  buf, payload_off, payload_cap, quic_v2, quic_min, idx_out, slot_out, dns_out)
     -> (count, dns_count)

   dissect/feeder.py's _candidates_numpy compiled (the twin: dissect/triage.py's triage of
   _wanted_numpy's packets; tests/test_feeder_twins.py compares them): which packets of a
   batch go to the dissectors, in capture order. Wanted are those with a flow slot and
   payload whose side's bit (1: side A, 2: side B) is set in the flow's ``inspect`` byte;
   of them every non-UDP one goes on (idx_out, with its slot in slot_out), a UDP one with
   either port marked in the 65,536-byte ``dns_ports`` table only when it is a response
   with answers (dns_out: the fast DNS path), any other UDP one only when it has a
   datagram dissector's shape (discv4, Nano, a client's QUIC Initial of at least
   ``quic_min`` bytes, version 1 or ``quic_v2``: triage._datagram_candidate). Bytes are
   read at offsets clipped to [0, len(buf) - 8], as triage's numpy gathers read them
   (the caller sees to len(buf) >= 8). One pass over the batch where numpy made some
   twenty over the wanted packets (a dozen clipped gathers of the UDP ones, then two
   masks and a gather of the slots): ~5 % of the generated bench's instructions went to
   the feeder's numpy. */
static inline unsigned it_byte(const unsigned char *b, Py_ssize_t last, int64_t i) {
    return b[i < 0 ? 0 : (i > last ? last : i)];
}

static PyObject *inspect_triage(PyObject *self, PyObject *args) {
    PyObject *objs[14];
    Py_buffer v[14];
    unsigned long quic_v2;
    long long quic_min;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOkLOOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9], &objs[10],
                          &quic_v2, &quic_min, &objs[11], &objs[12], &objs[13]))
        return NULL;
    if (take_buffers(objs, v, 14, 11) < 0)
        return NULL;
    const uint8_t *inspect = v[0].buf, *src_first = v[2].buf, *proto = v[4].buf,
                  *dns_ports = v[7].buf, *buf = v[8].buf;
    const int64_t *pkt_slot = v[1].buf, *plen = v[3].buf, *sport = v[5].buf, *dport = v[6].buf,
                  *poff = v[9].buf, *pcap = v[10].buf;
    int64_t *idx = v[11].buf, *slot_out = v[12].buf, *dns_out = v[13].buf;
    Py_ssize_t rows = v[0].len, n = v[1].len / (Py_ssize_t)sizeof(int64_t), count = 0, ndns = 0;
    Py_ssize_t last = v[8].len - 8;
    const Py_ssize_t w = (Py_ssize_t)sizeof(int64_t);
    int bad = v[2].len < n || v[3].len < n * w || v[4].len < n || v[5].len < n * w ||
              v[6].len < n * w || v[7].len < 65536 || last < 0 || v[9].len < n * w ||
              v[10].len < n * w || v[11].len < n * w || v[12].len < n * w || v[13].len < n * w;
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        int64_t s = pkt_slot[i];
        if (s < 0 || plen[i] <= 0) continue;
        if (s >= rows) {
            bad = 1;
            break;
        }
        if (!(inspect[s] & (src_first[i] ? 1 : 2))) continue;
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
        }
        idx[count] = i;
        slot_out[count] = s;
        count++;
    }
    release_buffers(v, 14);
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
static PyObject *inspect_cols(PyObject *self, PyObject *args) {
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
   ``udp_packet`` as the Python loop passes them. Returns how many flows the Inspector cut
   short (``cut_short``, emptied) while the loop ran. */
static PyObject *feed_packets(PyObject *self, PyObject *args) {
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
        if (!(inspect[s] & (side[i] + 1)))
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
static PyObject *fresh_copy(PyObject *self, PyObject *proto) {
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

static PyMethodDef methods[] = {
    {"fanout_owners", fanout_owners, METH_VARARGS, "The split-scan worker of each packet's flow."},
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of complete classic-pcap records."},
    {"walk_pcapng_epb", walk_pcapng_epb, METH_VARARGS, "Offsets of consecutive pcapng EPBs."},
    {"dns_response", dns_response, METH_O, "Questions, CNAMEs and addresses of a DNS response."},
    {"dns_answer_groups", dns_answer_groups, METH_VARARGS, "DNS responses of a batch, grouped."},
    {"client_hello_fields", client_hello_fields, METH_O, "Fields of a TLS ClientHello body."},
    {"client_hello_key", client_hello_key, METH_O, "A TLS ClientHello body's fingerprint cache key, SNI and ALPN."},
    {"server_hello_fields", server_hello_fields, METH_O, "Fields of a TLS ServerHello body."},
    {"tls_scan", tls_scan, METH_VARARGS, "Events of the complete TLS records at a stream's start."},
    {"tls_first", tls_first, METH_O, "A TLS side's first packet, read whole, events by kind."},
    {"tls_cut_point", tls_cut_point, METH_O, "Where a cut-short last handshake record starts and its whole messages end."},
    {"hello_key", hello_key, METH_O, "ClientHello fingerprint cache key (GREASE folded)."},
    {"http_headers", http_headers, METH_VARARGS, "HTTP header fields of a message head (those named), as dpkt reads them."},
    {"pdns_groups", pdns_groups, METH_VARARGS, "A batch's DNS answers into passive DNS."},
    {"decode_batch", decode_batch, METH_VARARGS, "Link, IP and transport headers of a batch."},
    {"decap_batch", decap_batch, METH_VARARGS, "Encapsulation headers of tunnel carriers."},
    {"pcap_fields", pcap_fields, METH_VARARGS, "Header fields of classic-pcap records."},
    {"flow_group", flow_group, METH_VARARGS, "Canonical keys and groups of a packet batch."},
    {"flow_update", flow_update, METH_VARARGS, "Add a batch's packets to their flow rows."},
    {"carrier_rows", carrier_rows, METH_VARARGS, "The tunnel carriers of a decoded level."},
    {"flow_fill", flow_fill, METH_VARARGS, "Fill the rows of a batch's new flows."},
    {"flow_verify", flow_verify, METH_VARARGS, "Drop the slots whose stored tuple differs."},
    {"sweep_flags", sweep_flags, METH_VARARGS, "What the sweep decides of each used flow."},
    {"flow_behaviour", flow_behaviour, METH_VARARGS, "Messages, pushes and answers of TCP flows."},
    {"trees_raw", trees_raw, METH_VARARGS, "Raw scores of boosted trees, row by row."},
    {"index_drop", index_drop, METH_VARARGS, "The key index without the entries of some slots."},
    {"index_merge", index_merge, METH_VARARGS, "The key index with new entries merged in."},
    {"zero_rows", zero_rows, METH_VARARGS, "Zero the rows of flow-table columns."},
    {"inspect_cols", inspect_cols, METH_VARARGS, "The columns feed_packets takes for a round."},
    {"inspect_triage", inspect_triage, METH_VARARGS, "Packets of a batch the dissectors must see."},
    {"rank_within", rank_within, METH_VARARGS, "Each packet's place among its flow's."},
    {"round_pick", round_pick, METH_VARARGS, "The candidates of one feeding round."},
    {"feed_packets", feed_packets, METH_VARARGS, "A round of packets to the Inspector, skipping done sides."},
    {"aes128_block", aes128_block_py, METH_VARARGS, "AES-128 encryption of one 16-byte block."},
    {"aes128_gcm_open", aes128_gcm_open, METH_VARARGS, "AES-128-GCM decryption, None on a bad tag."},
    {"quic_client_keys", quic_client_keys, METH_VARARGS, "A QUIC client's Initial secret and hp key."},
    {"quic_key_iv", quic_key_iv, METH_VARARGS, "AES-GCM key and IV of a QUIC traffic secret."},
    {"fresh_copy", fresh_copy, METH_O, "A slotted object's copy with fresh empty containers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "detector._fast", "minewatch's compiled helpers.", -1, methods,
};

PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&module); }
