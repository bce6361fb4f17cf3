/* HTTP message head fields (twin: dissect/http.py's py_parse_headers). */

#include "fast.h"

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
static PyObject *http_version_prefix; /* "HTTP/", made at http_head's first call */

static inline int http_bws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int http_sws(unsigned char c) { return http_bws(c) || (c >= 0x1c && c <= 0x1f); }

/* Whether line[0:len] (a lower-cased field name) is one of ``names`` (ASCII str). Asked
   for every line of a head: inlined, and a name's first byte compared before memcmp is
   called (most lines are none of the names). */
static inline __attribute__((always_inline)) int http_name_in(const char *line, Py_ssize_t len,
                                                              PyObject *names) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(names); k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (PyUnicode_GET_LENGTH(name) != len)
            continue;
        /* compact ASCII (http_headers checked): its characters follow the object */
        const char *text = (const char *)(((PyASCIIObject *)name) + 1);
        if ((len == 0 || text[0] == line[0]) && memcmp(text, line, (size_t)len) == 0)
            return 1;
    }
    return 0;
}

/* Whether ``names`` is None or a tuple of compact ASCII str (what http_name_in reads);
   else a TypeError is set. */
static int http_names_ok(PyObject *names, const char *fn) {
    if (names == Py_None)
        return 1;
    int ok = PyTuple_Check(names);
    for (Py_ssize_t k = 0; ok && k < PyTuple_GET_SIZE(names); k++)
        ok = PyUnicode_Check(PyTuple_GET_ITEM(names, k)) &&
             PyUnicode_IS_COMPACT_ASCII(PyTuple_GET_ITEM(names, k));
    if (!ok)
        PyErr_Format(PyExc_TypeError, "%s: names must be a tuple of ASCII str", fn);
    return ok;
}

/* The fields of the header block b[0:n] (http_headers' reading): a new dict, Py_None
   (a new reference) where the block is refused, NULL with an exception set. */
static PyObject *http_read_headers(const unsigned char *b, Py_ssize_t n, PyObject *names) {
    Py_ssize_t pos = 0;
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
        if (names != Py_None && s < e) {
            /* A line whose name is ASCII is read from the packet's bytes: its name, the
               bytes up to the first colon, is the one the copy below would have (dropping
               non-ASCII bytes moves no colon), so it is checked and looked up there, and
               the value of a field not named - most of a head's bytes (Cookie, Accept...),
               which the copy walked byte by byte - is not read at all. A name with a
               non-ASCII byte, or a named field, is read by the copy as before. */
            const unsigned char *c = memchr(b + s, ':', (size_t)(e - s));
            Py_ssize_t ne = c ? c - b : e, nlen = ne - s;
            int ascii = 1, tokens = 0, in_token = 0;
            for (Py_ssize_t i = 0; i < nlen; i++) {
                unsigned char ch = b[s + i];
                if (ch >= 0x80) {
                    ascii = 0;
                    break;
                }
                int space = http_sws(ch);
                if (!space && !in_token)
                    tokens++;
                in_token = !space;
                line[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
            }
            if (ascii) {
                if (tokens != 1) {
                    Py_DECREF(headers);
                    PyMem_Free(line);
                    Py_RETURN_NONE;
                }
                if (!http_name_in(line, nlen, names)) {
                    if (!nl)
                        break;
                    pos = end + 1;
                    continue;
                }
            }
        }
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
    return headers;
fail:
    Py_XDECREF(headers);
    PyMem_Free(line);
    return NULL;
}

PyObject *http_headers(PyObject *self, PyObject *args) {
    PyObject *arg, *names = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &arg, &names) || !http_names_ok(names, "http_headers"))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *headers = http_read_headers((const unsigned char *)view.buf, view.len, names);
    PyBuffer_Release(&view);
    return headers;
}

/* Whether ``text`` (a str) starts with "HTTP/". */
static int http_starts_version(PyObject *text) {
    return PyUnicode_Tailmatch(text, http_version_prefix, 0, PY_SSIZE_T_MAX, -1) == 1;
}

/* http_head(head, names) -> (method, uri, status, headers) | None: dissect/http.py's
   py_parse_head (its twin; tests/test_http_headers.py compares them) - a message head's
   start line and its fields (http_headers' reading, those ``names`` names): the line up
   to the first CRLF read as latin-1 and split on whitespace (str.split, at most three
   parts), None for fewer than two parts, a refused header block, a status that is not
   all digits (str.isdigit) after an "HTTP/" first part, or a request's third part that
   does not start with "HTTP/". A response gives ("", "", status, headers), a request
   (method, uri, "", headers). The same calls as the Python (split, Tailmatch) made from
   C: some ten method calls and a tuple per message head fewer (~7,000 heads on real-1m). */
PyObject *http_head(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *arg, *names;
    if (!PyArg_ParseTuple(args, "OO", &arg, &names) || !http_names_ok(names, "http_head"))
        return NULL;
    if (http_version_prefix == NULL) {
        http_version_prefix = PyUnicode_InternFromString("HTTP/");
        if (http_version_prefix == NULL)
            return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const char *b = (const char *)view.buf;
    Py_ssize_t n = view.len, eol = 0;
    while (eol + 1 < n && !(b[eol] == '\r' && b[eol + 1] == '\n'))
        eol++;
    if (eol + 1 >= n)
        eol = n; /* no CRLF: the whole head is the line, nothing follows */
    PyObject *text = PyUnicode_DecodeLatin1(b, eol, NULL);
    PyObject *parts = text ? PyUnicode_Split(text, NULL, 2) : NULL;
    Py_XDECREF(text);
    PyObject *result = NULL, *headers = NULL;
    if (parts == NULL)
        goto done;
    Py_ssize_t count = PyList_GET_SIZE(parts);
    if (count < 2) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t rest = eol + 2 <= n ? eol + 2 : n;
    headers = http_read_headers((const unsigned char *)b + rest, n - rest, names);
    if (headers == NULL)
        goto done;
    if (headers == Py_None) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *first = PyList_GET_ITEM(parts, 0), *second = PyList_GET_ITEM(parts, 1);
    if (http_starts_version(first)) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(second);
        int digits = len > 0, kind = PyUnicode_KIND(second);
        const void *data = PyUnicode_DATA(second);
        for (Py_ssize_t i = 0; i < len && digits; i++)
            digits = Py_UNICODE_ISDIGIT(PyUnicode_READ(kind, data, i));
        result = digits ? Py_BuildValue("(ssOO)", "", "", second, headers) : Py_NewRef(Py_None);
    } else if (count == 3 && !http_starts_version(PyList_GET_ITEM(parts, 2))) {
        result = Py_NewRef(Py_None);
    } else {
        result = Py_BuildValue("(OOsO)", first, second, "", headers);
    }
done:
    Py_XDECREF(headers);
    Py_XDECREF(parts);
    PyBuffer_Release(&view);
    return result;
}

