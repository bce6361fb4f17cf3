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

/* family_keys(records, ports, app, dialect, prefixed) -> list[tuple]

   Per record, the key RuleSet.evaluate_all looks its candidate rules up with (twin:
   detector/rules/fields.py, family_keys_python): fields.family_list of the record as a
   tuple, with its server port last when ``ports`` (a frozenset) holds it. ``app`` and
   ``dialect``: fields' _APP and _DIALECT (name -> "app:NAME" / "dialect:NAME"), read here
   and filled by ``prefixed`` (fields._prefixed, called with the table, the prefix and the
   name) for a name not in them yet. Why in C: family_list and the key cost ~4,300
   instructions a flow with facts in Python (a call, ~50 bytecodes), ~2,200 here, for
   every such flow of a scan, and most fire no rule (callgrind, real-traffic bench: -29 M
   of 5,102 M). Any object the facts
   hold is read as Python reads it (attributes, truth, iteration, ``in``; dict.get on a
   dict, the ``get`` method else), so the answers are family_list's. */
static PyObject *fk_facts, *fk_model_score, *fk_model_alert, *fk_behaviour, *fk_server_port,
    *fk_app_protos, *fk_dialects, *fk_node, *fk_pool, *fk_http, *fk_tls, *fk_hosts, *fk_agent,
    *fk_protocol, *fk_name_network, *fk_sni, *fk_json, *fk_get, *fk_lower, *fk_s_model,
    *fk_s_model_alert, *fk_s_behaviour, *fk_s_dialects, *fk_s_json, *fk_s_node, *fk_s_pool,
    *fk_s_http, *fk_s_tls, *fk_s_tls_sni, *fk_s_names, *fk_s_agent, *fk_p_app, *fk_p_dialect,
    *fk_p_protocol, *fk_p_name_network;

static int fk_intern(void) {
    if (fk_p_name_network) return 0;
    struct { PyObject **slot; const char *text; } names[] = {
        {&fk_facts, "facts"}, {&fk_model_score, "model_score"},
        {&fk_model_alert, "model_alert"}, {&fk_behaviour, "behaviour"},
        {&fk_server_port, "server_port"}, {&fk_app_protos, "app_protos"},
        {&fk_dialects, "dialects"}, {&fk_node, "node"}, {&fk_pool, "pool"},
        {&fk_http, "http"}, {&fk_tls, "tls"}, {&fk_hosts, "hosts"}, {&fk_agent, "agent"},
        {&fk_protocol, "protocol"}, {&fk_name_network, "name_network"}, {&fk_sni, "sni"},
        {&fk_json, "json"}, {&fk_get, "get"}, {&fk_lower, "lower"}, {&fk_s_model, "model"},
        {&fk_s_model_alert, "model_alert"}, {&fk_s_behaviour, "behaviour"},
        {&fk_s_dialects, "dialects"}, {&fk_s_json, "json"}, {&fk_s_node, "node"},
        {&fk_s_pool, "pool"}, {&fk_s_http, "http"}, {&fk_s_tls, "tls"},
        {&fk_s_tls_sni, "tls.sni"}, {&fk_s_names, "names"}, {&fk_s_agent, "agent"},
        {&fk_p_app, "app:"}, {&fk_p_dialect, "dialect:"}, {&fk_p_protocol, "node.protocol="},
        {&fk_p_name_network, NULL},
    };
    for (size_t k = 0; names[k].text; k++)
        if (!(*names[k].slot = PyUnicode_InternFromString(names[k].text))) return -1;
    fk_p_name_network = PyUnicode_InternFromString("node.name_network=");
    return fk_p_name_network ? 0 : -1;
}

static slot_cache fk_at_facts, fk_at_model_score, fk_at_model_alert, fk_at_behaviour,
    fk_at_server_port, fk_at_app_protos, fk_at_dialects, fk_at_node, fk_at_pool, fk_at_http,
    fk_at_tls, fk_at_hosts, fk_at_agent;

/* slot_attr (fast.h): ``obj.name``, a new reference (NULL with an error set), read off
   its slot where ``at`` says the type keeps it there - a plain object member
   (T_OBJECT_EX) the generic attribute lookup finds, as the interpreter's specialised
   attribute read finds it once and keeps it: PyObject_GetAttr's walk over the type's
   dictionaries cost ~100-250 instructions a read (callgrind) - else, and for an unset
   slot (its AttributeError), by PyObject_GetAttr. */
PyObject *slot_attr(PyObject *obj, PyObject *name, slot_cache *at) {
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp != at->type || !(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ||
        tp->tp_version_tag != at->version) {
        Py_CLEAR(at->type);
        if (tp->tp_getattro != PyObject_GenericGetAttr) return PyObject_GetAttr(obj, name);
        PyObject *d = _PyType_Lookup(tp, name); /* (borrowed; sets the version tag) */
        if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type) ||
            ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX ||
            !(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
            return PyObject_GetAttr(obj, name);
        Py_INCREF(tp);
        at->type = tp;
        at->version = tp->tp_version_tag;
        at->offset = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    PyObject *v = *(PyObject **)((char *)obj + at->offset);
    if (!v) return PyObject_GetAttr(obj, name);
    Py_INCREF(v);
    return v;
}

/* Append a new reference to ``list`` (stolen; NULL: an error already set): 0 or -1. */
static int fk_append_new(PyObject *list, PyObject *item) {
    if (!item) return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* The truth of attribute ``name`` of ``obj`` (``at``: slot_attr's): 1, 0, or -1 on an error. */
static int fk_attr_true(PyObject *obj, PyObject *name, slot_cache *at) {
    PyObject *v = slot_attr(obj, name, at);
    if (!v) return -1;
    int truth = PyObject_IsTrue(v);
    Py_DECREF(v);
    return truth;
}

/* ``d.get(key)``: a new reference, Py_None included, or NULL on an error. */
static PyObject *fk_get_item(PyObject *d, PyObject *key) {
    if (PyDict_CheckExact(d)) {
        PyObject *v = PyDict_GetItemWithError(d, key);
        if (!v) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        Py_INCREF(v);
        return v;
    }
    return PyObject_CallMethodOneArg(d, fk_get, key);
}

/* ``text`` (table[name], borrowed; NULL: missing) appended to ``present`` when true, else
   prefixed(table, prefix, name): 0 or -1. */
static int fk_put_name(PyObject *present, PyObject *text, PyObject *name, PyObject *table,
                       PyObject *prefix, PyObject *prefixed) {
    int truth = text ? PyObject_IsTrue(text) : 0;
    if (truth < 0) return -1;
    if (truth) return PyList_Append(present, text);
    return fk_append_new(present, PyObject_CallFunctionObjArgs(prefixed, table, prefix, name, NULL));
}

/* Each member of ``names`` (iterated) as table[name], or prefixed(table, prefix, name)
   when that is missing or false, appended to ``present``: 0 or -1. */
static int fk_prefixed_all(PyObject *present, PyObject *names, PyObject *table, PyObject *prefix,
                           PyObject *prefixed) {
#if PY_VERSION_HEX < 0x030D0000
    /* (the two private helpers below are CPython 3.11/3.12's; later versions take the
       generic walk, same answers) */
    if ((PySet_CheckExact(names) || PyFrozenSet_CheckExact(names)) && PyDict_CheckExact(table)) {
        /* (a set, as FlowFacts keeps them: walked in its iteration order without an
           iterator object, each name looked up with the hash the set keeps) */
        Py_ssize_t pos = 0;
        PyObject *key;
        Py_hash_t hash;
        while (_PySet_NextEntry(names, &pos, &key, &hash)) {
            PyObject *text = _PyDict_GetItem_KnownHash(table, key, hash);
            if (!text && PyErr_Occurred()) return -1;
            Py_INCREF(key); /* (borrowed from the set, which prefixed's Python may change) */
            int rc = fk_put_name(present, text, key, table, prefix, prefixed);
            Py_DECREF(key);
            if (rc < 0) return -1;
        }
        return 0;
    }
#endif
    PyObject *it = PyObject_GetIter(names), *name;
    if (!it) return -1;
    while ((name = PyIter_Next(it))) {
        PyObject *text = PyDict_CheckExact(table) ? PyDict_GetItemWithError(table, name) : NULL;
        int rc = (!text && PyErr_Occurred())
                     ? -1
                     : fk_put_name(present, text, name, table, prefix, prefixed);
        Py_DECREF(name);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* ``prefix + str(node.get(key)).lower()`` appended when node.get(key) is not None: 0/-1. */
static int fk_node_value(PyObject *present, PyObject *node, PyObject *key, PyObject *prefix) {
    PyObject *value = fk_get_item(node, key);
    if (!value) return -1;
    if (value == Py_None) {
        Py_DECREF(value);
        return 0;
    }
    PyObject *text = PyObject_Str(value);
    Py_DECREF(value);
    if (!text) return -1;
    PyObject *lower = PyObject_CallMethodNoArgs(text, fk_lower);
    Py_DECREF(text);
    if (!lower) return -1;
    PyObject *joined = PyUnicode_Concat(prefix, lower);
    Py_DECREF(lower);
    return fk_append_new(present, joined);
}

/* family_list of one record's facts ``f`` (not None) appended to ``present``: 0 or -1. */
static int fk_facts_part(PyObject *present, PyObject *f, PyObject *app, PyObject *dialect,
                         PyObject *prefixed) {
    int rc = -1, truth;
    PyObject *apps = NULL, *dialects = NULL, *node = NULL, *tls = NULL, *sni = NULL;
    if (!(apps = slot_attr(f, fk_app_protos, &fk_at_app_protos))) goto done;
    if (fk_prefixed_all(present, apps, app, fk_p_app, prefixed) < 0) goto done;
    if (!(dialects = slot_attr(f, fk_dialects, &fk_at_dialects))) goto done;
    if ((truth = PyObject_IsTrue(dialects)) < 0) goto done;
    if (truth && (PyList_Append(present, fk_s_dialects) < 0 ||
                  fk_prefixed_all(present, dialects, dialect, fk_p_dialect, prefixed) < 0))
        goto done;
    if ((truth = PySequence_Contains(apps, fk_json)) < 0) goto done;
    if (truth && PyList_Append(present, fk_s_json) < 0) goto done;
    if (!(node = slot_attr(f, fk_node, &fk_at_node))) goto done;
    if ((truth = PyObject_IsTrue(node)) < 0) goto done;
    if (truth && (PyList_Append(present, fk_s_node) < 0 ||
                  fk_node_value(present, node, fk_protocol, fk_p_protocol) < 0 ||
                  fk_node_value(present, node, fk_name_network, fk_p_name_network) < 0))
        goto done;
    if ((truth = fk_attr_true(f, fk_pool, &fk_at_pool)) < 0) goto done;
    if (truth && PyList_Append(present, fk_s_pool) < 0) goto done;
    if ((truth = fk_attr_true(f, fk_http, &fk_at_http)) < 0) goto done;
    if (truth && PyList_Append(present, fk_s_http) < 0) goto done;
    if (!(tls = slot_attr(f, fk_tls, &fk_at_tls))) goto done;
    if ((truth = PyObject_IsTrue(tls)) < 0) goto done;
    if (truth) {
        if (PyList_Append(present, fk_s_tls) < 0 || !(sni = fk_get_item(tls, fk_sni))) goto done;
        if (sni != Py_None && PyList_Append(present, fk_s_tls_sni) < 0) goto done;
    }
    if ((truth = fk_attr_true(f, fk_hosts, &fk_at_hosts)) < 0) goto done;
    if (truth && PyList_Append(present, fk_s_names) < 0) goto done;
    if ((truth = fk_attr_true(f, fk_agent, &fk_at_agent)) < 0) goto done;
    if (truth && PyList_Append(present, fk_s_agent) < 0) goto done;
    rc = 0;
done:
    Py_XDECREF(apps);
    Py_XDECREF(dialects);
    Py_XDECREF(node);
    Py_XDECREF(tls);
    Py_XDECREF(sni);
    return rc;
}

/* The key of one record: a new tuple, or NULL with an error set. */
static PyObject *fk_key(PyObject *r, PyObject *ports, PyObject *app, PyObject *dialect,
                        PyObject *prefixed) {
    PyObject *present = NULL, *f = NULL, *score = NULL, *behaviour = NULL, *port = NULL,
             *key = NULL;
    if (!(present = PyList_New(0)) || !(f = slot_attr(r, fk_facts, &fk_at_facts)) ||
        !(score = slot_attr(r, fk_model_score, &fk_at_model_score)))
        goto done;
    if (score != Py_None) {
        /* "behaviour" first when the facts are there and the record has a behaviour */
        if (f != Py_None) {
            if (!(behaviour = slot_attr(r, fk_behaviour, &fk_at_behaviour))) goto done;
            if (behaviour != Py_None && PyList_Append(present, fk_s_behaviour) < 0) goto done;
        }
        int alert = fk_attr_true(r, fk_model_alert, &fk_at_model_alert);
        if (alert < 0 || PyList_Append(present, fk_s_model) < 0) goto done;
        if (alert && PyList_Append(present, fk_s_model_alert) < 0) goto done;
    } else if (f != Py_None) {
        if (!(behaviour = slot_attr(r, fk_behaviour, &fk_at_behaviour))) goto done;
        if (behaviour != Py_None && PyList_Append(present, fk_s_behaviour) < 0) goto done;
    }
    if (f != Py_None && fk_facts_part(present, f, app, dialect, prefixed) < 0) goto done;
    if (!(port = slot_attr(r, fk_server_port, &fk_at_server_port))) goto done;
    int listed = PySet_Contains(ports, port);
    if (listed < 0) goto done;
    if (listed && PyList_Append(present, port) < 0) goto done;
    key = PyList_AsTuple(present);
done:
    Py_XDECREF(present);
    Py_XDECREF(f);
    Py_XDECREF(score);
    Py_XDECREF(behaviour);
    Py_XDECREF(port);
    return key;
}

PyObject *family_keys(PyObject *self, PyObject *args) {
    PyObject *records, *ports, *app, *dialect, *prefixed;
    if (!PyArg_ParseTuple(args, "OO!O!O!O", &records, &PyFrozenSet_Type, &ports, &PyDict_Type,
                          &app, &PyDict_Type, &dialect, &prefixed))
        return NULL;
    if (fk_intern() < 0) return NULL;
    PyObject *seq = PySequence_Fast(records, "family_keys: records must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(n);
    if (!out) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = fk_key(PySequence_Fast_GET_ITEM(seq, i), ports, app, dialect, prefixed);
        if (!key) {
            Py_DECREF(out);
            Py_DECREF(seq);
            return NULL;
        }
        PyList_SET_ITEM(out, i, key);
    }
    Py_DECREF(seq);
    return out;
}
