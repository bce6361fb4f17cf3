/* DNS responses (twin: dissect/dnsparse.py) and their passive-DNS groups (twin:
   detector/pdns.py's add_groups loop). */

#include "fast.h"

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

/* The name at *pos (moved past it) appended to c as ``tag``, its length, its text; -1 if
   malformed (*why says why). dns_canon's questions ('Q') and CNAME targets ('C'). */
static int dns_put_name(const unsigned char *d, Py_ssize_t n, Py_ssize_t *pos, dns_canon_t *c,
                        unsigned char tag, const char **why) {
    Py_ssize_t len = dns_read_name(d, n, pos, c->b + c->len + 2, why);
    if (len < 0)
        return -1;
    c->b[c->len] = tag;
    c->b[c->len + 1] = (unsigned char)len;
    c->len += 2 + len;
    return 0;
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
        if (dns_put_name(d, n, &pos, c, 'Q', why) < 0)
            return -1;
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
            if (dns_put_name(d, n, &at, c, 'C', why) < 0)
                return -1;
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
PyObject *dns_response(PyObject *self, PyObject *arg) {
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
PyObject *dns_answer_groups(PyObject *self, PyObject *args) {
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

PyObject *pdns_groups(PyObject *self, PyObject *args) {
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

