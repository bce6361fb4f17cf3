/* The tree model's raw scores (twin: detector/trees.py, CompiledTrees.raw), and the
   count and behaviour columns of its feature matrix (twins: detector/features.py). */

#include "fast.h"

/* trees_raw(feature, threshold, missing_left, left, right, leaf, value, roots, x, out,
             baseline, width[, low, high, rest_max, rest_min]) -> None

   The boosted trees' raw scores (detector/trees.py, CompiledTrees.raw; its numpy walk is
   the twin): for each row of x (float64, rows x n_features, C order), baseline plus each
   tree's leaf value added in tree order, as scikit-learn's predictor adds them. Node
   arrays as CompiledTrees holds them: int64 feature/left/right/roots, float64
   threshold/value, bool (one byte) missing_left/leaf. A NaN goes where missing_left says.
   Why in C: the numpy walk gathers (rows x 300 trees) arrays at every depth, ~120 us a
   row; a poller's checkpoints made the scored rows of a real-traffic scan three times as
   many. Node indices are checked (a malformed model raises, never reads out of range):
   ``width`` -1, here; else the feature count below which CompiledTrees found every split
   when it was made, with children after parents and every root a node
   (trees.checked_width; it keeps the arrays read-only since), for rows at least as wide.

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

PyObject *trees_raw(PyObject *self, PyObject *args) {
    PyObject *objs[12];
    Py_buffer v[12];
    double baseline, low = 0.0, high = 0.0;
    Py_ssize_t width;
    objs[10] = objs[11] = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOdn|ddOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &baseline, &width, &low, &high, &objs[10], &objs[11]))
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
       instructions per node), it nearly halved the walk's instructions (callgrind); once
       per model where the caller says it checked (``width``): ~14 M instructions of a
       real-traffic scan's ~50 calls. */
    int sound = !bad;
    if (sound && width >= 0) {
        sound = width <= nf; /* (narrower rows: the checked walk) */
    } else {
        for (Py_ssize_t t = 0; t < ntrees && sound; t++)
            sound = roots[t] >= 0 && roots[t] < nodes;
        for (Py_ssize_t i = 0; i < nodes && sound; i++)
            sound = leaf[i] || (feature[i] >= 0 && feature[i] < nf && left[i] > i &&
                                left[i] < nodes && right[i] > i && right[i] < nodes);
    }
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


/* features.py's _per, _std and _cv for one value: x / n where n > 0, else NaN; the
   standard deviation from a sum of squares (np.maximum(0.0, v): a NaN stays, a tie gives
   v); the coefficient of variation. */
static inline double feat_per(double x, double n) { return n > 0 ? x / n : NAN; }

static inline double feat_std(double sum_sq, double n, double mean) {
    if (!(n > 0) || mean != mean) return NAN;
    double var = sum_sq / n - mean * mean;
    if (var == var && 0.0 > var) var = 0.0;
    return sqrt(var);
}

static inline double feat_cv(double sum_sq, double n, double mean) {
    if (!(n > 0) || !(mean > 0)) return NAN;
    return feat_std(sum_sq, n, mean) / mean;
}

static inline double feat_f32(const unsigned char *p) {
    float v;
    memcpy(&v, p, sizeof v);
    return (double)v;
}

/* behaviour_features(packed, counts, cols) -> None

   features.py's _behaviour (its twin) for every row: ``packed`` the records' behaviour
   (behaviour.PACKED_DTYPE, FEAT_ITEM bytes each, little-endian host; features.py checks
   the field offsets below before it calls), ``counts`` float64 (rows x 3: duration,
   payload client -> server, server -> client), ``cols`` float64 (rows x FEAT_COLS, C order)
   filled with msgs_toserver ... req_interval_cv. The same float64 operations in the same
   order as the numpy twin, so the same bits. Why in C: the twin is ~120 numpy calls a
   batch, ~0.5 ms for a batch of ~250 rows - most of the feature matrix's cost. */
enum { FEAT_ITEM = 83, FEAT_MSGS = 8, FEAT_COLS = 36 };
PyObject *behaviour_features(PyObject *self, PyObject *args) {
    PyObject *objs[3];
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOO", &objs[0], &objs[1], &objs[2]))
        return NULL;
    if (take_buffers(objs, v, 3, 2) < 0)
        return NULL;
    Py_ssize_t rows = v[0].len / FEAT_ITEM;
    if (v[0].len != rows * FEAT_ITEM || v[1].len != rows * 3 * 8 ||
        v[2].len != rows * FEAT_COLS * 8) {
        release_buffers(v, 3);
        PyErr_SetString(PyExc_ValueError, "behaviour_features: buffer sizes disagree");
        return NULL;
    }
    const unsigned char *packed = v[0].buf;
    const double *counts = v[1].buf;
    double *cols = v[2].buf;
    for (Py_ssize_t i = 0; i < rows; i++) {
        const unsigned char *b = packed + i * FEAT_ITEM;
        double duration = counts[3 * i], pay_c = counts[3 * i + 1], pay_s = counts[3 * i + 2];
        double *o = cols + i * FEAT_COLS;
        double msgs_c = (double)load32(b), msgs_s = (double)load32(b + 4);
        double mean_c = feat_per(pay_c, msgs_c), mean_s = feat_per(pay_s, msgs_s);
        o[0] = msgs_c;
        o[1] = msgs_s;
        o[2] = mean_c;
        o[3] = mean_s;
        o[4] = feat_std(feat_f32(b + 8), msgs_c, mean_c);
        o[5] = feat_std(feat_f32(b + 12), msgs_s, mean_s);
        o[6] = feat_per(msgs_c, duration);
        o[7] = feat_per(msgs_s, duration);
        double all = msgs_c + msgs_s;
        for (int k = 0; k < FEAT_MSGS; k++) {
            int kept = (double)k < all;
            int16_t size;
            memcpy(&size, b + 16 + 2 * k, sizeof size);
            int level = b[32 + k];
            double gap = level > 0 ? ldexp(1.0, (level > 1 ? level : 1) - 1) / 1000.0 : 0.0;
            o[8 + k] = kept ? (double)size : NAN;
            o[16 + k] = kept ? gap : NAN;
        }
        double *r = o + 24;
        uint16_t pushes_u;
        memcpy(&pushes_u, b + 40, sizeof pushes_u);
        double pushes = (double)pushes_u, intervals = pushes - 1;
        double push_first = feat_f32(b + 42), push_last = feat_f32(b + 46);
        double push_sq = feat_f32(b + 50);
        double push_mean = feat_per(push_last - push_first, intervals);
        double counted = 0.0, top = 0.0;
        int argmax = 0;
        for (int k = 0; k < 8; k++) {
            double h = (double)b[54 + k];
            counted += h;
            if (k == 0 || h > top) {
                top = h;
                argmax = k;
            }
        }
        double answers = (double)load32(b + 62);
        double reqs = msgs_c - 1;
        double req_mean = feat_per(feat_f32(b + 74) - feat_f32(b + 70), reqs);
        if (b[82] != 0) { /* reoriented: pushes, answers and requests are the other side's */
            for (int k = 0; k < 12; k++) r[k] = NAN;
            continue;
        }
        r[0] = pushes;
        r[1] = feat_per(pushes, duration);
        r[2] = feat_per(pushes, msgs_s);
        r[3] = push_mean;
        r[4] = feat_cv(push_sq, intervals, push_mean);
        r[5] = counted > 0 ? (double)argmax : NAN;
        r[6] = feat_per(top, counted);
        r[7] = answers;
        r[8] = feat_per(feat_f32(b + 66), answers);
        r[9] = feat_per(answers, msgs_c);
        r[10] = req_mean;
        r[11] = feat_cv(feat_f32(b + 78), reqs, req_mean);
    }
    release_buffers(v, 3);
    Py_RETURN_NONE;
}

/* count_features(times, ports, out, port_col) -> None

   features_matrix's columns of a record's counts (twin: features._count_columns): from
   ``times`` (float64, rows x 9, C order: first_ts, the duration in last_ts's place, then
   the packet, byte and payload counts both ways and the server port, as features_matrix
   reads them), columns 0-11 of ``out`` (float64, rows x width, C order: duration ...
   payload_share_toclient) and its column ``port_col`` (server_port_class, with ``ports``
   the mining ports, float64). The same float64 operations as the twin's numpy, so the
   same bits; ~35 numpy calls a batch. */
PyObject *count_features(PyObject *self, PyObject *args) {
    PyObject *objs[3];
    Py_buffer v[3];
    Py_ssize_t port_col;
    if (!PyArg_ParseTuple(args, "OOOn", &objs[0], &objs[1], &objs[2], &port_col))
        return NULL;
    if (take_buffers(objs, v, 3, 2) < 0)
        return NULL;
    Py_ssize_t rows = v[0].len / (9 * 8), nports = v[1].len / 8;
    Py_ssize_t width = rows ? v[2].len / 8 / rows : 0;
    if (v[0].len != rows * 9 * 8 || (rows && v[2].len != rows * width * 8) ||
        (rows && (width < 12 || port_col < 12 || port_col >= width))) {
        release_buffers(v, 3);
        PyErr_SetString(PyExc_ValueError, "count_features: buffer sizes disagree");
        return NULL;
    }
    const double *times = v[0].buf, *ports = v[1].buf;
    double *out = v[2].buf;
    for (Py_ssize_t i = 0; i < rows; i++) {
        const double *t = times + 9 * i;
        double *o = out + width * i;
        double duration = t[1], pay_c = t[6], pay_s = t[7], port = t[8];
        for (int k = 0; k < 7; k++) o[k] = t[1 + k];
        o[7] = feat_per(t[2], duration);
        o[8] = feat_per(t[3], duration);
        o[9] = feat_per(pay_c, duration);
        o[10] = feat_per(pay_s, duration);
        o[11] = feat_per(pay_s, pay_c + pay_s);
        double cls = port < 1024 ? 0.0 : port < 49152 ? 1.0 : 3.0;
        for (Py_ssize_t k = 0; k < nports; k++)
            if (port == ports[k]) cls = 2.0;
        o[port_col] = cls;
    }
    release_buffers(v, 3);
    Py_RETURN_NONE;
}

/* record_rows(records, times, out, tls_col, versions, coinminer) -> None

   features_matrix's values read off the records (twins: its np.fromiter of _COUNTED and
   of _tls, features.py): per record, ``times`` (float64, rows x 9, C order) gets
   first_ts, last_ts, the packet, byte and payload counts both ways and the server port,
   each as float() makes it; ``out`` (float64, rows x width, C order) gets its TLS columns
   tls ... pool_listed at ``tls_col`` .. ``tls_col`` + 9, as _tls works them out
   (``versions``: TLS_VERSIONS, a dict; ``coinminer``: COINMINER_JA3). A record's TLS facts
   must be a dict (FlowFacts.tls; TypeError else, and the caller takes the twin). Why in C:
   the twin's Python per row (_tls, nineteen values through fromiter) cost ~10,000
   instructions a scored row (callgrind, real-traffic bench). */
static PyObject *rr_names[9], *rr_facts, *rr_pool, *rr_tls, *rr_app_protos, *rr_version,
    *rr_client_version, *rr_ja3, *rr_sni, *rr_alpn, *rr_ja4, *rr_subject, *rr_self_signed;

/* where the records' and facts' types keep what record_rows reads (slot_attr: a read
   at its slot's offset, not PyObject_GetAttr's ~110 instructions, ~13 a scored row) */
static slot_cache rr_at_names[9], rr_at_facts, rr_at_pool, rr_at_tls, rr_at_app_protos;

static int rr_intern(void) {
    static const char *counted[9] = {"first_ts", "last_ts", "pkts_toserver", "pkts_toclient",
                                     "bytes_toserver", "bytes_toclient", "payload_toserver",
                                     "payload_toclient", "server_port"};
    if (rr_facts) return 0;
    for (int k = 0; k < 9; k++)
        if (!(rr_names[k] = PyUnicode_InternFromString(counted[k]))) return -1;
    if (!(rr_pool = PyUnicode_InternFromString("pool")) ||
        !(rr_tls = PyUnicode_InternFromString("tls")) ||
        !(rr_app_protos = PyUnicode_InternFromString("app_protos")) ||
        !(rr_version = PyUnicode_InternFromString("version")) ||
        !(rr_client_version = PyUnicode_InternFromString("client_version")) ||
        !(rr_ja3 = PyUnicode_InternFromString("ja3")) ||
        !(rr_sni = PyUnicode_InternFromString("sni")) ||
        !(rr_alpn = PyUnicode_InternFromString("alpn")) ||
        !(rr_ja4 = PyUnicode_InternFromString("ja4")) ||
        !(rr_subject = PyUnicode_InternFromString("subject")) ||
        !(rr_self_signed = PyUnicode_InternFromString("self_signed")))
        return -1;
    rr_facts = PyUnicode_InternFromString("facts");
    return rr_facts ? 0 : -1;
}

/* The truth of d[key] (dict.get's None when absent is false): 1, 0, or -1 on an error. */
static int rr_get_true(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (!v) return PyErr_Occurred() ? -1 : 0;
    return PyObject_IsTrue(v);
}

/* _tls of one record's facts ``f`` (not None) into o[0..9]; 0, or -1 with an error set. */
static int rr_tls_row(PyObject *f, PyObject *versions, PyObject *coinminer, double *o) {
    int ok = -1;
    PyObject *pool = NULL, *tls = NULL, *apps = NULL;
    if (!(pool = slot_attr(f, rr_pool, &rr_at_pool)) || !(tls = slot_attr(f, rr_tls, &rr_at_tls)))
        goto done;
    int pooled = PyObject_IsTrue(pool);
    if (pooled < 0) goto done;
    o[9] = pooled ? 1.0 : 0.0;
    if (!PyDict_CheckExact(tls)) {
        PyErr_SetString(PyExc_TypeError, "record_rows: TLS facts that are not a dict");
        goto done;
    }
    int clear = PyDict_GET_SIZE(tls) == 0;
    if (!clear) {
        /* "tls" not in (f.app_protos or ()) and "ja3" not in tls */
        if (!(apps = slot_attr(f, rr_app_protos, &rr_at_app_protos))) goto done;
        int some = PyObject_IsTrue(apps);
        if (some < 0) goto done;
        int in_apps = some ? PySequence_Contains(apps, rr_tls) : 0;
        if (in_apps < 0) goto done;
        if (!in_apps) {
            int has_ja3 = PyDict_Contains(tls, rr_ja3);
            if (has_ja3 < 0) goto done;
            clear = !has_ja3;
        }
    }
    if (clear) { /* read in clear: _CLEAR[pool] */
        o[0] = 0.0;
        for (int k = 1; k < 9; k++) o[k] = NAN;
        ok = 0;
        goto done;
    }
    o[0] = 1.0;
    /* version = get("version") or get("client_version") */
    PyObject *version = PyDict_GetItemWithError(tls, rr_version);
    if (!version && PyErr_Occurred()) goto done;
    int truth = version ? PyObject_IsTrue(version) : 0;
    if (truth < 0) goto done;
    if (!truth) {
        version = PyDict_GetItemWithError(tls, rr_client_version);
        if (!version && PyErr_Occurred()) goto done;
        truth = version ? PyObject_IsTrue(version) : 0;
        if (truth < 0) goto done;
    }
    o[1] = NAN;
    if (truth) { /* TLS_VERSIONS.get(version, NAN) */
        PyObject *known = PyDict_GetItemWithError(versions, version);
        if (!known && PyErr_Occurred()) goto done;
        if (known) {
            o[1] = PyFloat_AsDouble(known);
            if (o[1] == -1.0 && PyErr_Occurred()) goto done;
        }
    }
    int t;
    if ((t = rr_get_true(tls, rr_sni)) < 0) goto done;
    o[2] = t ? 1.0 : 0.0;
    if ((t = rr_get_true(tls, rr_alpn)) < 0) goto done;
    o[3] = t ? 1.0 : 0.0;
    PyObject *ja3 = PyDict_GetItemWithError(tls, rr_ja3);
    if (!ja3 && PyErr_Occurred()) goto done;
    if ((t = ja3 ? PyObject_IsTrue(ja3) : 0) < 0) goto done;
    o[4] = t ? 1.0 : 0.0;
    if ((t = rr_get_true(tls, rr_ja4)) < 0) goto done;
    o[5] = t ? 1.0 : 0.0;
    /* ja3 == COINMINER_JA3 (None, absent, is not) */
    Py_XINCREF(ja3);
    t = PyObject_RichCompareBool(ja3 ? ja3 : Py_None, coinminer, Py_EQ);
    Py_XDECREF(ja3);
    if (t < 0) goto done;
    o[6] = t ? 1.0 : 0.0;
    int certificate = PyDict_Contains(tls, rr_subject);
    if (certificate < 0) goto done;
    o[7] = certificate ? 1.0 : 0.0;
    o[8] = NAN;
    if (certificate) {
        if ((t = rr_get_true(tls, rr_self_signed)) < 0) goto done;
        o[8] = t ? 1.0 : 0.0;
    }
    ok = 0;
done:
    Py_XDECREF(pool);
    Py_XDECREF(tls);
    Py_XDECREF(apps);
    return ok;
}

PyObject *record_rows(PyObject *self, PyObject *args) {
    PyObject *records, *objs[2], *versions, *coinminer;
    Py_buffer v[2];
    Py_ssize_t tls_col;
    if (!PyArg_ParseTuple(args, "OOOnO!O", &records, &objs[0], &objs[1], &tls_col,
                          &PyDict_Type, &versions, &coinminer))
        return NULL;
    if (rr_intern() < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(records, "record_rows: records must be a sequence");
    if (!seq)
        return NULL;
    if (take_buffers(objs, v, 2, 0) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_ssize_t rows = PySequence_Fast_GET_SIZE(seq);
    Py_ssize_t width = rows ? v[1].len / 8 / rows : 0;
    PyObject *result = NULL;
    if (v[0].len != rows * 9 * 8 || (rows && v[1].len != rows * width * 8) ||
        (rows && (tls_col < 0 || tls_col + 10 > width))) {
        PyErr_SetString(PyExc_ValueError, "record_rows: buffer sizes disagree");
        goto done;
    }
    double *times = v[0].buf, *out = v[1].buf;
    for (Py_ssize_t i = 0; i < rows; i++) {
        PyObject *r = PySequence_Fast_GET_ITEM(seq, i);
        for (int k = 0; k < 9; k++) {
            PyObject *value = slot_attr(r, rr_names[k], &rr_at_names[k]);
            if (!value) goto done;
            double x = PyFloat_AsDouble(value);
            Py_DECREF(value);
            if (x == -1.0 && PyErr_Occurred()) goto done;
            times[9 * i + k] = x;
        }
        double *o = out + width * i + tls_col;
        PyObject *f = slot_attr(r, rr_facts, &rr_at_facts);
        if (!f) goto done;
        if (f == Py_None) { /* _NO_FACTS */
            for (int k = 0; k < 10; k++) o[k] = NAN;
        } else if (rr_tls_row(f, versions, coinminer, o) < 0) {
            Py_DECREF(f);
            goto done;
        }
        Py_DECREF(f);
    }
    result = Py_None;
    Py_INCREF(result);
done:
    release_buffers(v, 2);
    Py_DECREF(seq);
    return result;
}
