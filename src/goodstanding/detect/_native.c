/* The always-on layer's hot loops in C: the same results as the Python code they stand in
 * for, to the bit, without a Python object per word, match or character.
 *
 * Why: inside the gateway a screen runs with the CPU caches cold (the rest of a request's work
 * runs between two screens). The Python paths cost ~250 us there: each word and bigram looked
 * up in dicts of 40,000 strings and tuples, the lexicon's automaton walking a trie of 60,000
 * terms node by node, a dozen numpy and bytes calls per hint. Here the vocabulary and the terms
 * are flat open-addressing tables whose probes are independent (so their cache misses
 * overlap), and a text is read straight from its bytes.
 *
 * What each entry point does not take it answers None for, and the Python path decides: the
 * canonicaliser takes ASCII and typographic quotes, dashes and ellipses (which it folds to
 * ASCII); the heads and the lexicon's summary take any text without whitespace outside ASCII
 * (read as UTF-8, with Unicode's letters and digits at a term's boundaries); the rest ASCII. Each has a test
 * that compares it with the Python path (tests/detect/test_native.py).
 *
 * HeadsTable.half_logits(text, extra) stands in for heads.Heads.half_logits(words(text), extra):
 * - words: `features.words` (ASCII bytes outside [a-z0-9'] separate words; UTF-8 stays);
 * - windows: `features.windows` and `Heads.half_logits` (max over windows);
 * - features in `Rows.known` order, each row once: unigram ids, bigram pairs, extra rows, the
 *   length bucket; rows past `unknown` dropped;
 * - the sum: float32, row after row from the first (numpy's sum over axis 0), times
 *   float32(n ** -0.5), plus the bias; built with -ffp-contract=off so no multiply-add fuses.
 *
 * TermTable.hits(text) stands in for lexicon.Lexicon._scan: every occurrence of a term that
 * starts and ends at a word boundary (no letter or digit on either side).
 *
 * hints(text) and payloads_possible(raw, canonical) stand in for canonical._hints and for the
 * question "could canonical._candidates yield anything".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define WINDOW 256
#define MAX_WORDS (64 * WINDOW)
#define MAX_EXTRA 80 /* the lexicon's pseudo-words: two per category and one more */
#define MAX_HEADS 64
#define EMPTY UINT32_MAX
#define EMPTY_PAIR UINT64_MAX
#define INLINE 11 /* a word of up to this many bytes is kept inside its table slot */

#define prefetch(p) __builtin_prefetch(p)

static uint64_t fnv_start(void) { return 1469598103934665603ULL; }
static uint64_t fnv_add(uint64_t h, unsigned char c) { return (h ^ c) * 1099511628211ULL; }
static uint64_t fnv_end(uint64_t h) { return h ^ (h >> 29); }

static uint64_t hash_bytes(const unsigned char *s, Py_ssize_t n) {
    uint64_t h = fnv_start();
    for (Py_ssize_t i = 0; i < n; i++) h = fnv_add(h, s[i]);
    return fnv_end(h);
}

static uint64_t mix(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ULL;
    return key ^ (key >> 32);
}

static uint64_t capacity_for(Py_ssize_t n) {
    uint64_t cap = 1024;
    while (cap < (uint64_t)n * 2 + 1) cap <<= 1;
    return cap;
}

static int is_alnum(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/* ASCII whitespace as str.split() sees it: \t \n \v \f \r, the four separators, the space */
static int is_space(unsigned char c) {
    return c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31);
}

/* " ".join(s[:n].split()) in place; returns the new length. */
static Py_ssize_t join_split(unsigned char *s, Py_ssize_t n) {
    Py_ssize_t out = 0;
    int gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_space(s[i])) {
            gap = out > 0;
            continue;
        }
        if (gap) s[out++] = ' ';
        gap = 0;
        s[out++] = s[i];
    }
    return out;
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    if (view->len % itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: not a whole number of items", what);
        return -1;
    }
    return 0;
}

/* A set of byte strings (NUL-separated in one blob) with a uint32 value each: open addressing,
 * linear probing; a short key sits inside its slot, so most probes touch one cache line. */
typedef struct {
    uint32_t value; /* EMPTY: an empty slot */
    uint8_t len; /* the key's length, 255 for 255 or more (then a NUL ends it in the blob) */
    uint8_t bytes[INLINE]; /* a short key; a long one's offset into the blob (4 bytes) */
} Slot;

typedef struct {
    Slot *slots;
    uint64_t mask;
    unsigned char *blob;
} Strings;

static int strings_init(Strings *t, const unsigned char *blob, Py_ssize_t blob_len,
                        Py_ssize_t count) {
    uint64_t cap = capacity_for(count);
    t->mask = cap - 1;
    t->slots = PyMem_Malloc(cap * sizeof(Slot));
    t->blob = PyMem_Malloc((size_t)blob_len + 1);
    if (t->slots == NULL || t->blob == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(t->slots, 0xff, cap * sizeof(Slot));
    memcpy(t->blob, blob, (size_t)blob_len);
    t->blob[blob_len] = '\0';
    return 0;
}

static void strings_free(Strings *t) {
    PyMem_Free(t->slots);
    PyMem_Free(t->blob);
}

static int slot_is(const Strings *t, const Slot *slot, const unsigned char *s, Py_ssize_t n) {
    if (slot->len != (n < 255 ? n : 255)) return 0;
    if (n <= INLINE) return memcmp(slot->bytes, s, (size_t)n) == 0;
    uint32_t offset;
    memcpy(&offset, slot->bytes, sizeof offset);
    /* a key may be a prefix of a longer string in the blob: its length decides, and for 255
     * bytes or more (the length field is full) the blob's NUL after the key */
    return memcmp(t->blob + offset, s, (size_t)n) == 0 && (n < 255 || t->blob[offset + n] == '\0');
}

/* The slot that holds key s, or the empty slot where it would go. */
static Slot *strings_find(const Strings *t, uint64_t hash, const unsigned char *s, Py_ssize_t n) {
    for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        Slot *slot = &t->slots[i];
        if (slot->value == EMPTY || slot_is(t, slot, s, n)) return slot;
    }
}

/* Puts the blob's key at `offset` (n bytes, NUL after) into `slot`, an empty one. */
static void strings_put(Slot *slot, const unsigned char *blob, uint32_t offset, Py_ssize_t n,
                        uint32_t value) {
    slot->value = value;
    slot->len = (uint8_t)(n < 255 ? n : 255);
    memset(slot->bytes, 0, INLINE);
    if (n <= INLINE)
        memcpy(slot->bytes, blob + offset, (size_t)n);
    else
        memcpy(slot->bytes, &offset, sizeof offset);
}

/* The key a slot holds (its bytes inline or in the blob) and its length. */
static const unsigned char *slot_key(const Strings *t, const Slot *slot, Py_ssize_t *n) {
    if (slot->len <= INLINE) {
        *n = slot->len;
        return slot->bytes;
    }
    uint32_t offset;
    memcpy(&offset, slot->bytes, sizeof offset);
    *n = slot->len < 255 ? slot->len : (Py_ssize_t)strlen((const char *)t->blob + offset);
    return t->blob + offset;
}

/* Moves the keys into a table sized for them (built from an upper bound of their count, the
 * table was mostly empty slots: memory, and probes spread over more cache lines). */
static int strings_shrink(Strings *t) {
    uint64_t used = 0;
    for (uint64_t i = 0; i <= t->mask; i++) used += t->slots[i].value != EMPTY;
    uint64_t cap = capacity_for((Py_ssize_t)used);
    if (cap >= t->mask + 1) return 0;
    Slot *slots = PyMem_Malloc(cap * sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(slots, 0xff, cap * sizeof(Slot));
    for (uint64_t i = 0; i <= t->mask; i++) {
        const Slot *slot = &t->slots[i];
        if (slot->value == EMPTY) continue;
        Py_ssize_t n;
        const unsigned char *key = slot_key(t, slot, &n);
        uint64_t j = hash_bytes(key, n) & (cap - 1);
        while (slots[j].value != EMPTY) j = (j + 1) & (cap - 1);
        slots[j] = *slot;
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

/* A text as the heads and the lexicon read it: its UTF-8 bytes (an ASCII text's own), or NULL
 * with no error set when it holds whitespace outside ASCII (str.split() splits there and the
 * byte loops would not) or cannot be encoded (a lone surrogate): the Python path decides. */
static const unsigned char *text_bytes(PyObject *text, Py_ssize_t *n) {
    if (PyUnicode_IS_ASCII(text)) {
        *n = PyUnicode_GET_LENGTH(text);
        return PyUnicode_1BYTE_DATA(text);
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0, len = PyUnicode_GET_LENGTH(text); i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 128 && Py_UNICODE_ISSPACE(c)) return NULL;
    }
    const char *found = PyUnicode_AsUTF8AndSize(text, n);
    if (found == NULL) PyErr_Clear();
    return (const unsigned char *)found;
}

/* Whether the character whose UTF-8 starts at s[i] is a letter or digit, as str.isalnum. */
static int alnum_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    unsigned char c = s[i];
    if (c < 128) return is_alnum(c);
    Py_UCS4 cp;
    Py_ssize_t more;
    if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F;
        more = 1;
    } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F;
        more = 2;
    } else {
        cp = c & 0x07;
        more = 3;
    }
    for (Py_ssize_t k = 1; k <= more && i + k < n; k++) cp = (cp << 6) | (s[i + k] & 0x3F);
    return Py_UNICODE_ISALNUM(cp);
}

/* Whether the character that ends just before s[i] is a letter or digit. */
static int alnum_before(const unsigned char *s, Py_ssize_t i) {
    Py_ssize_t j = i - 1;
    while (j > 0 && (s[j] & 0xC0) == 0x80) j--;
    return alnum_at(s, i, j);
}

/* ---------------------------------------------------------------- HeadsTable -------------- */

typedef struct {
    uint64_t key; /* (a << 32) | b; EMPTY_PAIR: empty slot */
    uint32_t row;
    uint32_t pad;
} PairSlot;

typedef struct {
    PyObject_HEAD
    Strings words; /* word -> id (heads.Rows.ids) */
    PairSlot *pairs; /* (id, id) -> row (heads.Rows.pairs) */
    uint64_t pair_mask;
    float *weights; /* (unknown, heads), C order: the half weights' known rows */
    float *bias;
    uint32_t length[65];
    uint32_t unknown;
    uint32_t heads;
} HeadsTable;

static uint32_t pair_row(const HeadsTable *t, uint64_t key) {
    for (uint64_t i = mix(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        const PairSlot *slot = &t->pairs[i];
        if (slot->key == key) return slot->row;
        if (slot->key == EMPTY_PAIR) return t->unknown;
    }
}

static int is_word_byte(unsigned char c) { /* features.words: UTF-8 of other scripts stays */
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 128;
}

/* The rows of one window, each once, in first-seen order (a small set on the stack). */
#define SEEN 2048
typedef struct {
    uint32_t slots[SEEN];
    uint32_t *rows;
    Py_ssize_t count;
} Seen;

static void seen_add(Seen *seen, uint32_t unknown, uint32_t row) {
    if (row >= unknown) return; /* the unknown row, and words that only bigrams know */
    for (uint32_t i = (uint32_t)mix(row) & (SEEN - 1);; i = (i + 1) & (SEEN - 1)) {
        if (seen->slots[i] == row) return;
        if (seen->slots[i] == EMPTY) {
            seen->slots[i] = row;
            seen->rows[seen->count++] = row;
            return;
        }
    }
}

static void window_sum(const HeadsTable *t, const uint32_t *ids, Py_ssize_t n,
                       const uint32_t *extra, Py_ssize_t n_extra, uint32_t *rows,
                       uint32_t *pair_rows, float *out) {
    uint32_t unknown = t->unknown, h = t->heads;
    /* the bigrams' probes first, all of them, so that their cache misses overlap */
    for (Py_ssize_t i = 0; i + 1 < n; i++)
        prefetch(&t->pairs[mix(((uint64_t)ids[i] << 32) | ids[i + 1]) & t->pair_mask]);
    for (Py_ssize_t i = 0; i + 1 < n; i++)
        pair_rows[i] = ids[i] == unknown || ids[i + 1] == unknown
            ? unknown : pair_row(t, ((uint64_t)ids[i] << 32) | ids[i + 1]);
    Seen seen;
    memset(seen.slots, 0xff, sizeof seen.slots);
    seen.rows = rows;
    seen.count = 0;
    for (Py_ssize_t i = 0; i < n; i++) seen_add(&seen, unknown, ids[i]);
    for (Py_ssize_t i = 0; i + 1 < n; i++) seen_add(&seen, unknown, pair_rows[i]);
    for (Py_ssize_t i = 0; i < n_extra; i++) seen_add(&seen, unknown, extra[i]);
    seen_add(&seen, unknown, t->length[n < 64 ? n : 64]);
    if (seen.count == 0) {
        memcpy(out, t->bias, h * sizeof(float));
        return;
    }
    for (Py_ssize_t r = 0; r < seen.count; r++) prefetch(t->weights + (size_t)rows[r] * h);
    float acc[MAX_HEADS];
    memcpy(acc, t->weights + (size_t)rows[0] * h, h * sizeof(float));
    for (Py_ssize_t r = 1; r < seen.count; r++) {
        const float *w = t->weights + (size_t)rows[r] * h;
        for (uint32_t j = 0; j < h; j++) acc[j] = acc[j] + w[j];
    }
    float scale = (float)pow((double)seen.count, -0.5);
    for (uint32_t j = 0; j < h; j++) {
        float scaled = acc[j] * scale;
        out[j] = scaled + t->bias[j];
    }
}

/* The half calibrated logits of an ASCII text into `out` (one float32 per head); -1 with
 * MemoryError set when a long text's buffers cannot be had. */
#define STACK_WORDS 512
#define MOST_ROWS (2 * (WINDOW + WINDOW / 4) + MAX_EXTRA + 1)
static int text_half_logits(const HeadsTable *self, const unsigned char *s, Py_ssize_t len,
                            const uint32_t *extra, Py_ssize_t n_extra, float *out) {
    Py_ssize_t cap = len / 2 + 1 < MAX_WORDS ? len / 2 + 1 : MAX_WORDS;
    /* per word: start and length, hash, id; most prompts fit on the stack */
    Py_ssize_t stack_spans[2 * STACK_WORDS];
    uint64_t stack_hashes[STACK_WORDS];
    uint32_t stack_ids[STACK_WORDS];
    uint32_t rows[2 * MOST_ROWS]; /* a window's features, then its bigrams' rows */
    Py_ssize_t *spans = stack_spans;
    uint64_t *hashes = stack_hashes;
    uint32_t *ids = stack_ids;
    if (cap > STACK_WORDS) {
        spans = PyMem_Malloc((size_t)cap * 2 * sizeof(Py_ssize_t));
        hashes = PyMem_Malloc((size_t)cap * sizeof(uint64_t));
        ids = PyMem_Malloc((size_t)cap * sizeof(uint32_t));
        if (spans == NULL || hashes == NULL || ids == NULL) {
            PyMem_Free(spans);
            PyMem_Free(hashes);
            PyMem_Free(ids);
            PyErr_NoMemory();
            return -1;
        }
    }
    const Strings *words = &self->words;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < len && n < cap;) {
        while (i < len && !is_word_byte(s[i])) i++;
        Py_ssize_t start = i;
        uint64_t h = fnv_start();
        while (i < len && is_word_byte(s[i])) h = fnv_add(h, s[i++]);
        if (i > start) {
            spans[2 * n] = start;
            spans[2 * n + 1] = i - start;
            hashes[n] = fnv_end(h);
            prefetch(&words->slots[hashes[n] & words->mask]);
            n++;
        }
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        const Slot *slot = strings_find(words, hashes[k], s + spans[2 * k], spans[2 * k + 1]);
        ids[k] = slot->value == EMPTY ? self->unknown : slot->value;
    }
    if (n <= WINDOW + WINDOW / 4) { /* features.windows: one piece */
        window_sum(self, ids, n, extra, n_extra, rows, rows + MOST_ROWS, out);
    } else {
        Py_ssize_t last = ((n - 1) / WINDOW) * WINDOW; /* the last cut */
        if (n - last < WINDOW / 4) last -= WINDOW; /* a short tail joins the previous piece */
        float piece[MAX_HEADS];
        for (Py_ssize_t a = 0; a <= last; a += WINDOW) {
            Py_ssize_t b = a == last ? n : a + WINDOW;
            window_sum(self, ids + a, b - a, extra, n_extra, rows, rows + MOST_ROWS,
                       a == 0 ? out : piece);
            for (uint32_t j = 0; a > 0 && j < self->heads; j++)
                if (piece[j] > out[j]) out[j] = piece[j];
        }
    }
    if (spans != stack_spans) {
        PyMem_Free(spans);
        PyMem_Free(hashes);
        PyMem_Free(ids);
    }
    return 0;
}

/* Half logits -> calibrated scores times the evidence gate, as Python floats: numpy's
 * `(0.5 + 0.5 * np.tanh(z)) * gate` in float32, with tanh from the C library (numpy's own
 * float32 tanh differs from it, and between CPUs, in the last bit at most). */
static PyObject *gated_scores(const float *z, const float *gate, Py_ssize_t heads) {
    PyObject *list = PyList_New(heads);
    if (list == NULL) return NULL;
    for (Py_ssize_t j = 0; j < heads; j++) {
        float t = (float)tanh((double)z[j]);
        float half = 0.5f * t;
        float p = 0.5f + half;
        float gated = p * gate[j];
        PyObject *value = PyFloat_FromDouble((double)gated);
        if (value == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, j, value);
    }
    return list;
}

/* Reads `extra` (uint32 rows) into `rows`; 0 when there are too many (the caller's Python
 * path decides those). */
static int read_extra(Py_buffer *extra, uint32_t *rows, Py_ssize_t *n_extra) {
    *n_extra = extra->len / (Py_ssize_t)sizeof(uint32_t);
    if (*n_extra > MAX_EXTRA) return 0;
    memcpy(rows, extra->buf, (size_t)*n_extra * sizeof(uint32_t));
    return 1;
}

/* HeadsTable.half_logits(text: str, extra: bytes of uint32 rows) -> bytes of float32 per
 * head, or None when the text is not ASCII. */
static PyObject *HeadsTable_half_logits(HeadsTable *self, PyObject *args) {
    PyObject *text;
    Py_buffer extra;
    if (!PyArg_ParseTuple(args, "Uy*", &text, &extra)) return NULL;
    uint32_t extra_rows[MAX_EXTRA];
    Py_ssize_t n_extra;
    int fits = read_extra(&extra, extra_rows, &n_extra);
    PyBuffer_Release(&extra);
    Py_ssize_t n;
    const unsigned char *s = fits ? text_bytes(text, &n) : NULL;
    if (s == NULL) Py_RETURN_NONE;
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)self->heads * sizeof(float));
    if (result == NULL) return NULL;
    if (text_half_logits(self, s, n, extra_rows, n_extra, (float *)PyBytes_AS_STRING(result)) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* HeadsTable.scores(text: str, extra: bytes of uint32 rows, gate: float32 per head) ->
 * [score per head], or None when the text is not ASCII. */
static PyObject *HeadsTable_scores(HeadsTable *self, PyObject *args) {
    PyObject *text;
    Py_buffer extra, gate;
    if (!PyArg_ParseTuple(args, "Uy*y*", &text, &extra, &gate)) return NULL;
    uint32_t extra_rows[MAX_EXTRA];
    float gates[MAX_HEADS];
    Py_ssize_t n_extra;
    int fits = read_extra(&extra, extra_rows, &n_extra);
    int gate_fits = gate.len == (Py_ssize_t)(self->heads * sizeof(float));
    if (gate_fits) memcpy(gates, gate.buf, (size_t)gate.len);
    PyBuffer_Release(&extra);
    PyBuffer_Release(&gate);
    if (!gate_fits) {
        PyErr_SetString(PyExc_ValueError, "scores(): one float32 gate per head");
        return NULL;
    }
    Py_ssize_t n;
    const unsigned char *s = fits ? text_bytes(text, &n) : NULL;
    if (s == NULL) Py_RETURN_NONE;
    float z[MAX_HEADS];
    if (text_half_logits(self, s, n, extra_rows, n_extra, z) < 0) return NULL;
    return gated_scores(z, gates, self->heads);
}

/* finish_scores(half_logits: float32 buffer, gate: float32 buffer) -> [score per head]: the
 * same arithmetic as HeadsTable.scores, for half logits the Python path computed (a text that
 * is not ASCII), so that every score of one install comes from one tanh. */
static PyObject *finish_scores(PyObject *module, PyObject *args) {
    Py_buffer z, gate;
    if (!PyArg_ParseTuple(args, "y*y*", &z, &gate)) return NULL;
    PyObject *result = NULL;
    if (z.len != gate.len || z.len % sizeof(float) || z.len > MAX_HEADS * (Py_ssize_t)sizeof(float))
        PyErr_SetString(PyExc_ValueError, "finish_scores(): one float32 gate per head");
    else
        result = gated_scores(z.buf, gate.buf, z.len / (Py_ssize_t)sizeof(float));
    PyBuffer_Release(&z);
    PyBuffer_Release(&gate);
    return result;
}

/* HeadsTable(words: bytes, ids: bytes, pairs: bytes, weights: bytes, bias: bytes,
 *            length: bytes, unknown: int)
 * words: NUL-separated UTF-8 words; ids: uint32 per word; pairs: uint32 (a, b, row) triples;
 * weights: float32 (unknown, heads); bias: float32 (heads); length: uint32 x 65. */
static int HeadsTable_init(HeadsTable *self, PyObject *args, PyObject *kwds) {
    PyObject *words_obj, *ids_obj, *pairs_obj, *weights_obj, *bias_obj, *length_obj;
    unsigned long unknown;
    if (!PyArg_ParseTuple(args, "OOOOOOk", &words_obj, &ids_obj, &pairs_obj, &weights_obj,
                          &bias_obj, &length_obj, &unknown))
        return -1;
    if (self->weights != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "HeadsTable is built once");
        return -1;
    }
    Py_buffer words, ids, pairs, weights, bias, length;
    if (get_buffer(words_obj, &words, 1, "words") < 0) return -1;
    if (get_buffer(ids_obj, &ids, 4, "ids") < 0) goto fail_words;
    if (get_buffer(pairs_obj, &pairs, 12, "pairs") < 0) goto fail_ids;
    if (get_buffer(weights_obj, &weights, 4, "weights") < 0) goto fail_pairs;
    if (get_buffer(bias_obj, &bias, 4, "bias") < 0) goto fail_weights;
    if (get_buffer(length_obj, &length, 4, "length") < 0) goto fail_bias;

    int ok = 0;
    Py_ssize_t heads = bias.len / 4, n_ids = ids.len / 4, n_pairs = pairs.len / 12;
    if (heads == 0 || heads > MAX_HEADS || length.len != 65 * 4 || unknown >= UINT32_MAX ||
        weights.len != (Py_ssize_t)unknown * heads * 4 || words.len >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "HeadsTable: inconsistent sizes");
        goto done;
    }
    self->heads = (uint32_t)heads;
    self->unknown = (uint32_t)unknown;
    memcpy(self->length, length.buf, sizeof self->length);
    uint64_t pair_cap = capacity_for(n_pairs);
    self->weights = PyMem_Malloc((size_t)weights.len + 4);
    self->bias = PyMem_Malloc((size_t)bias.len);
    self->pairs = PyMem_Malloc(pair_cap * sizeof(PairSlot));
    if (!self->weights || !self->bias || !self->pairs) {
        PyErr_NoMemory();
        goto done;
    }
    if (strings_init(&self->words, words.buf, words.len, n_ids) < 0) goto done;
    memcpy(self->weights, weights.buf, (size_t)weights.len);
    memcpy(self->bias, bias.buf, (size_t)bias.len);
    self->pair_mask = pair_cap - 1;
    memset(self->pairs, 0xff, pair_cap * sizeof(PairSlot));

    const uint32_t *id = ids.buf;
    const unsigned char *blob = self->words.blob;
    Py_ssize_t offset = 0;
    for (Py_ssize_t k = 0; k < n_ids; k++) {
        if (offset > words.len) {
            PyErr_SetString(PyExc_ValueError, "HeadsTable: fewer words than ids");
            goto done;
        }
        Py_ssize_t n = (Py_ssize_t)strlen((const char *)blob + offset);
        Slot *slot = strings_find(&self->words, hash_bytes(blob + offset, n), blob + offset, n);
        if (slot->value == EMPTY) strings_put(slot, blob, (uint32_t)offset, n, id[k]);
        offset += n + 1;
    }
    const uint32_t *triple = pairs.buf;
    for (Py_ssize_t k = 0; k < n_pairs; k++, triple += 3) {
        uint64_t key = ((uint64_t)triple[0] << 32) | triple[1];
        uint64_t i = mix(key) & self->pair_mask;
        while (self->pairs[i].key != EMPTY_PAIR && self->pairs[i].key != key)
            i = (i + 1) & self->pair_mask;
        self->pairs[i].key = key;
        self->pairs[i].row = triple[2];
    }
    ok = 1;
done:
    PyBuffer_Release(&length);
fail_bias:
    PyBuffer_Release(&bias);
fail_weights:
    PyBuffer_Release(&weights);
fail_pairs:
    PyBuffer_Release(&pairs);
fail_ids:
    PyBuffer_Release(&ids);
fail_words:
    PyBuffer_Release(&words);
    return ok ? 0 : -1;
}

static void HeadsTable_dealloc(HeadsTable *self) {
    strings_free(&self->words);
    PyMem_Free(self->pairs);
    PyMem_Free(self->weights);
    PyMem_Free(self->bias);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef HeadsTable_methods[] = {
    {"half_logits", (PyCFunction)HeadsTable_half_logits, METH_VARARGS,
     "half_logits(text, extra_rows) -> float32 bytes per head, or None (Python decides)"},
    {"scores", (PyCFunction)HeadsTable_scores, METH_VARARGS,
     "scores(text, extra_rows, gate) -> [gated score per head], or None (Python decides)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HeadsTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "goodstanding.detect._native.HeadsTable",
    .tp_basicsize = sizeof(HeadsTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The heads' vocabulary and weights as flat tables (see heads.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)HeadsTable_init,
    .tp_dealloc = (destructor)HeadsTable_dealloc,
    .tp_methods = HeadsTable_methods,
};

/* ---------------------------------------------------------------- TermTable --------------- */

/* A key's value: the term's index (NO_TERM: the key is no term), and TERM_PREFIX when a
 * longer term starts with the key followed by a character that is not a letter or digit (the
 * walk goes on past it). A prefix that is no term is 0xfffffffe, never EMPTY. */
#define TERM_PREFIX 0x80000000u
#define TERM_INDEX 0x7fffffffu
#define NO_TERM 0x7ffffffeu
#define MAX_TERM 255

/* A term's tags (lexicon.py's (kind, category) pairs), as TermTable.summary combines them. */
typedef struct {
    uint32_t strong; /* categories a strong term names, one bit each */
    uint32_t weak; /* categories of any term, strong or weak */
    uint32_t flags; /* TAG_* */
} Tags;
#define TAG_ALLOW 1u
#define TAG_MINORS_STRONG 2u
#define TAG_MINORS_SEXUAL 4u
#define TAG_MINORS_MINOR 8u

typedef struct {
    PyObject_HEAD
    Strings terms;
    Py_ssize_t longest;
    Tags *tags; /* per term index */
    Py_ssize_t count;
} TermTable;

typedef struct {
    Py_ssize_t start, end;
    uint32_t index;
} Hit;

typedef struct {
    Hit *items;
    Py_ssize_t count, capacity;
    Hit inline_items[64]; /* most texts have a handful of hits */
} Hits;

/* Records the blob's key at `offset` (n bytes) as a prefix, or as the term `index`. */
static void term_put(TermTable *self, uint32_t offset, Py_ssize_t n, int prefix,
                     uint32_t index) {
    const unsigned char *key = self->terms.blob + offset;
    Slot *slot = strings_find(&self->terms, hash_bytes(key, n), key, n);
    if (slot->value == EMPTY)
        strings_put(slot, self->terms.blob, offset, n, prefix ? TERM_PREFIX | NO_TERM : index);
    else if (prefix)
        slot->value |= TERM_PREFIX;
    else if ((slot->value & TERM_INDEX) == NO_TERM) /* the first of equal terms keeps it */
        slot->value = (slot->value & TERM_PREFIX) | index;
}

/* TermTable(terms: bytes, tags: bytes): NUL-separated ASCII terms, each starting with a letter
 * or digit (a term's index is its place in that list); tags: uint32 (strong, weak, flags) per
 * term, as summary() combines them. */
static int TermTable_init(TermTable *self, PyObject *args, PyObject *kwds) {
    Py_buffer terms, tags;
    if (!PyArg_ParseTuple(args, "y*y*", &terms, &tags)) return -1;
    if (self->terms.slots != NULL) {
        PyBuffer_Release(&terms);
        PyBuffer_Release(&tags);
        PyErr_SetString(PyExc_RuntimeError, "TermTable is built once");
        return -1;
    }
    int ok = 0;
    const unsigned char *raw = terms.buf;
    Py_ssize_t count = 0, keys = 0;
    for (Py_ssize_t i = 0; i < terms.len; i++) {
        if (raw[i] > 127) {
            PyErr_SetString(PyExc_ValueError, "TermTable: ASCII terms only");
            goto done;
        }
        count += raw[i] == '\0';
        keys += raw[i] == '\0' || (!is_alnum(raw[i]) && raw[i] != '\0');
    }
    if (terms.len >= UINT32_MAX || count >= (Py_ssize_t)NO_TERM) {
        PyErr_SetString(PyExc_ValueError, "TermTable: too many terms");
        goto done;
    }
    if (tags.len != (count + 1) * (Py_ssize_t)sizeof(Tags)) {
        PyErr_SetString(PyExc_ValueError, "TermTable: one (strong, weak, flags) per term");
        goto done;
    }
    self->count = count + 1;
    self->tags = PyMem_Malloc((size_t)tags.len);
    if (self->tags == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(self->tags, tags.buf, (size_t)tags.len);
    if (strings_init(&self->terms, raw, terms.len, keys + 1) < 0) goto done;
    const unsigned char *blob = self->terms.blob;
    Py_ssize_t offset = 0;
    for (uint32_t index = 0; offset <= terms.len; index++) {
        Py_ssize_t n = (Py_ssize_t)strlen((const char *)blob + offset);
        if (n == 0 || n > MAX_TERM || !is_alnum(blob[offset])) {
            PyErr_SetString(PyExc_ValueError,
                            "TermTable: a term is empty, too long or starts with a symbol");
            goto done;
        }
        for (Py_ssize_t e = 1; e < n; e++)
            if (!is_alnum(blob[offset + e])) term_put(self, (uint32_t)offset, e, 1, 0);
        term_put(self, (uint32_t)offset, n, 0, index);
        if (n > self->longest) self->longest = n;
        offset += n + 1;
        if (offset >= terms.len) break;
    }
    ok = strings_shrink(&self->terms) == 0;
done:
    PyBuffer_Release(&terms);
    PyBuffer_Release(&tags);
    return ok ? 0 : -1;
}

static int hits_add(Hits *hits, Py_ssize_t start, Py_ssize_t end, uint32_t index) {
    if (hits->count == hits->capacity) {
        Py_ssize_t capacity = hits->capacity * 2;
        Hit *items = hits->items == hits->inline_items
            ? PyMem_Malloc((size_t)capacity * sizeof(Hit))
            : PyMem_Realloc(hits->items, (size_t)capacity * sizeof(Hit));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (hits->items == hits->inline_items)
            memcpy(items, hits->inline_items, sizeof hits->inline_items);
        hits->items = items;
        hits->capacity = capacity;
    }
    hits->items[hits->count++] = (Hit){start, end, index};
    return 0;
}

static void hits_init(Hits *hits) {
    hits->items = hits->inline_items;
    hits->count = 0;
    hits->capacity = 64;
}

static void hits_free(Hits *hits) {
    if (hits->items != hits->inline_items) PyMem_Free(hits->items);
}

/* Every term at a word boundary in s[:n]: a term starts with a letter or digit, so a hit
 * starts where a word does; from there the walk tries each end where the next character is
 * not a letter or digit, and stops at the first key that no term starts with. */
static int collect_hits(const TermTable *self, const unsigned char *s, Py_ssize_t n,
                        Hits *hits) {
    const Strings *t = &self->terms;
    /* the first word of each start: probed all at once, so that the misses overlap */
    for (Py_ssize_t p = 0; p < n; p++) {
        if (!is_alnum(s[p]) || (p > 0 && is_alnum(s[p - 1]))) continue;
        uint64_t h = fnv_start();
        Py_ssize_t e = p;
        while (e < n && is_alnum(s[e])) h = fnv_add(h, s[e++]);
        prefetch(&t->slots[fnv_end(h) & t->mask]);
        p = e;
    }
    for (Py_ssize_t p = 0; p < n; p++) {
        if (!is_alnum(s[p]) || (p > 0 && alnum_before(s, p))) continue;
        uint64_t h = fnv_start();
        Py_ssize_t limit = p + self->longest < n ? p + self->longest : n;
        for (Py_ssize_t e = p; e < limit;) {
            h = fnv_add(h, s[e++]);
            /* a hit ends before a character that is no letter or digit (and not inside one) */
            if (e < n && ((s[e] & 0xC0) == 0x80 || alnum_at(s, n, e))) continue;
            const Slot *slot = strings_find(t, fnv_end(h), s + p, e - p);
            if (slot->value == EMPTY) break;
            uint32_t index = slot->value & TERM_INDEX;
            if (index != NO_TERM && hits_add(hits, p, e, index) < 0) return -1;
            if (!(slot->value & TERM_PREFIX)) break;
        }
    }
    return 0;
}

/* TermTable.hits(text: str) -> [(start, end, index), ...] (lexicon.Lexicon._scan's hits, in
 * another order), or None when the text is not ASCII. */
static PyObject *TermTable_hits(TermTable *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "hits() takes a str");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    Hits hits;
    hits_init(&hits);
    PyObject *found = NULL;
    if (collect_hits(self, PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), &hits) == 0)
        found = PyList_New(hits.count);
    for (Py_ssize_t i = 0; found != NULL && i < hits.count; i++) {
        PyObject *hit = Py_BuildValue("(nnI)", hits.items[i].start, hits.items[i].end,
                                      hits.items[i].index);
        if (hit == NULL) Py_CLEAR(found);
        else PyList_SET_ITEM(found, i, hit);
    }
    hits_free(&hits);
    return found;
}

typedef struct {
    Py_ssize_t start, end;
} Span;

static int by_start(const void *a, const void *b) {
    Py_ssize_t x = ((const Span *)a)->start, y = ((const Span *)b)->start;
    return (x > y) - (x < y);
}

/* summarize(): the masked text (a new reference; NULL with an error set) and the bits of
 * TermTable.summary(text: str) -> (strong, weak, minors, masked), or None when the text is not
 * ASCII: lexicon.Lexicon.match's answer as bits. The hits inside an allow-listed phrase do not
 * count (an allow phrase covers itself), and `masked` is the text with those phrases blanked
 * and its spaces joined (the text itself when there is none). minors: TAG_MINORS_* bits.
 * Whether a hit is covered is one binary search in the phrases sorted by start, with the
 * farthest end reached so far: a text of 4,000 allow-listed phrases cost 0.4 s of CPU when
 * each hit was compared with every phrase. */
static PyObject *summarize(const TermTable *self, PyObject *text, const unsigned char *s,
                           Py_ssize_t n, uint32_t *strong_bits, uint32_t *weak_bits,
                           uint32_t *minors_bits) {
    Hits hits;
    hits_init(&hits);
    if (collect_hits(self, s, n, &hits) < 0) {
        hits_free(&hits);
        return NULL;
    }
    Py_ssize_t allows = 0;
    for (Py_ssize_t i = 0; i < hits.count; i++)
        allows += (self->tags[hits.items[i].index].flags & TAG_ALLOW) != 0;
    uint32_t strong = 0, weak = 0, minors = 0;
    PyObject *masked = NULL;
    if (allows == 0) {
        for (Py_ssize_t i = 0; i < hits.count; i++) {
            const Tags *tags = &self->tags[hits.items[i].index];
            strong |= tags->strong;
            weak |= tags->weak;
            minors |= tags->flags & ~TAG_ALLOW;
        }
        masked = Py_NewRef(text);
    } else {
        Span *spans = PyMem_Malloc((size_t)allows * sizeof(Span));
        Py_ssize_t *reach = PyMem_Malloc((size_t)allows * sizeof(Py_ssize_t));
        unsigned char *blank = PyMem_Malloc((size_t)n + 1);
        if (spans == NULL || reach == NULL || blank == NULL) {
            PyMem_Free(spans);
            PyMem_Free(reach);
            PyMem_Free(blank);
            hits_free(&hits);
            return PyErr_NoMemory();
        }
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < hits.count; i++)
            if (self->tags[hits.items[i].index].flags & TAG_ALLOW)
                spans[k++] = (Span){hits.items[i].start, hits.items[i].end};
        qsort(spans, (size_t)allows, sizeof(Span), by_start);
        for (Py_ssize_t j = 0; j < allows; j++)
            reach[j] = j == 0 || spans[j].end > reach[j - 1] ? spans[j].end : reach[j - 1];
        for (Py_ssize_t i = 0; i < hits.count; i++) {
            const Hit *hit = &hits.items[i];
            Py_ssize_t lo = 0, hi = allows; /* the spans that start at or before the hit */
            while (lo < hi) {
                Py_ssize_t mid = (lo + hi) / 2;
                if (spans[mid].start <= hit->start) lo = mid + 1;
                else hi = mid;
            }
            if (lo > 0 && reach[lo - 1] >= hit->end) continue; /* inside an allowed phrase */
            const Tags *tags = &self->tags[hit->index];
            strong |= tags->strong;
            weak |= tags->weak;
            minors |= tags->flags & ~TAG_ALLOW;
        }
        memcpy(blank, s, (size_t)n);
        for (Py_ssize_t j = 0; j < allows; j++)
            memset(blank + spans[j].start, ' ', (size_t)(spans[j].end - spans[j].start));
        Py_ssize_t m = join_split(blank, n);
        masked = PyUnicode_FromStringAndSize((const char *)blank, m);
        PyMem_Free(spans);
        PyMem_Free(reach);
        PyMem_Free(blank);
    }
    hits_free(&hits);
    *strong_bits = strong;
    *weak_bits = weak;
    *minors_bits = minors;
    return masked;
}

static PyObject *TermTable_summary(TermTable *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "summary() takes a str");
        return NULL;
    }
    Py_ssize_t n;
    const unsigned char *s = text_bytes(text, &n);
    if (s == NULL) Py_RETURN_NONE;
    uint32_t strong, weak, minors;
    PyObject *masked = summarize(self, text, s, n, &strong, &weak, &minors);
    if (masked == NULL) return NULL;
    return Py_BuildValue("(IIIN)", strong, weak, minors, masked);
}

static void TermTable_dealloc(TermTable *self) {
    strings_free(&self->terms);
    PyMem_Free(self->tags);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef TermTable_methods[] = {
    {"hits", (PyCFunction)TermTable_hits, METH_O,
     "hits(text) -> [(start, end, term index)] at word boundaries, or None for non-ASCII text"},
    {"summary", (PyCFunction)TermTable_summary, METH_O,
     "summary(text) -> (strong bits, weak bits, minors bits, masked text), or None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TermTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "goodstanding.detect._native.TermTable",
    .tp_basicsize = sizeof(TermTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The lexicon's terms as a flat table (see lexicon.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)TermTable_init,
    .tp_dealloc = (destructor)TermTable_dealloc,
    .tp_methods = TermTable_methods,
};

/* ---------------------------------------------------------------- canonicaliser hints ----- */

static int letter(unsigned char c) { return c >= 'a' && c <= 'z'; }
static int leet(unsigned char c) { return strchr("0134578@$9", c) != NULL && c != '\0'; }

/* hints(text) -> canonical._hints(text): read from the text's UTF-8 bytes, as the Python one
 * does (a byte outside ASCII is neither a letter nor a leet symbol), so the span is in bytes;
 * None for a text UTF-8 cannot encode (a lone surrogate: Python's path decides). */
static PyObject *hints(PyObject *module, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "hints() takes a str");
        return NULL;
    }
    Py_ssize_t n;
    const unsigned char *s;
    if (PyUnicode_IS_ASCII(text)) {
        s = PyUnicode_1BYTE_DATA(text);
        n = PyUnicode_GET_LENGTH(text);
    } else {
        s = (const unsigned char *)PyUnicode_AsUTF8AndSize(text, &n);
        if (s == NULL) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    }
    int symbols = 0, leety = 0, spaced = 0, singles = 0;
    Py_ssize_t first = -1, last = -1, run = 0;
    char before = ' '; /* the class of the previous byte: 'a', '1' or ' ' */
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        char cls = letter(c) ? 'a' : leet(c) ? '1' : ' ';
        symbols |= cls == '1';
        leety |= (before == 'a' && cls == '1') || (before == '1' && cls == 'a');
        if (cls != ' ') {
            run++;
        } else if (run) { /* a word of letters and leet symbols ended */
            singles = run == 1 ? singles + 1 : 0;
            spaced |= singles >= 3;
            run = 0;
        }
        before = cls;
        if (i + 2 < n && c == s[i + 1] && c == s[i + 2]) {
            if (first < 0) first = i;
            last = i;
        }
    }
    if (run) {
        singles = run == 1 ? singles + 1 : 0;
        spaced |= singles >= 3;
    }
    PyObject *span = first < 0 ? Py_NewRef(Py_None) : Py_BuildValue("(nn)", first, last + 3);
    if (span == NULL) return NULL;
    return Py_BuildValue("(NOO)", span, symbols && leety ? Py_True : Py_False,
                         spaced ? Py_True : Py_False);
}

/* What canonical._fold turns a character outside ASCII into when it is typographic
 * punctuation: NFKC's "..." and space, and canonical.TYPOGRAPHIC's folds; NULL for any other. */
static const char *typographic(Py_UCS4 c) {
    switch (c) {
    case 0x2018: case 0x2019: return "'";
    case 0x201C: case 0x201D: return "\"";
    case 0x2013: case 0x2014: return "-";
    case 0x2026: return "...";
    case 0x00A0: return " ";
    default: return NULL;
    }
}

/* canonical_ascii(raw) -> canonical._canonical_text(raw) for a text of ASCII and typographic
 * punctuation (a phone's "don’t") whose words hold no leetspeak and no spelled-out letters
 * (most texts); None for any other, which the Python path decides. The same steps: fold (lower case, whitespace runs to one space), then up to
 * eight rounds of "!"/"|" between letters to i/l and runs of three or more to one. */
static PyObject *canonical_ascii(PyObject *module, PyObject *raw) {
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "canonical_ascii() takes a str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    if (n > 65536) n = 65536; /* canonical.MAX_CHARS */
    /* typographic punctuation (canonical.TYPOGRAPHIC, and what NFKC does to "…" and the
     * no-break space) is the only text outside ASCII taken here: at most 3 bytes a character */
    Py_ssize_t size = PyUnicode_IS_ASCII(raw) ? n : 3 * n;
    unsigned char *text = PyMem_Malloc((size_t)size + 1), *next = PyMem_Malloc((size_t)size + 1);
    if (text == NULL || next == NULL) {
        PyMem_Free(text);
        PyMem_Free(next);
        return PyErr_NoMemory();
    }
    if (PyUnicode_IS_ASCII(raw)) {
        const unsigned char *src = PyUnicode_1BYTE_DATA(raw);
        for (Py_ssize_t i = 0; i < n; i++) text[i] = src[i];
    } else {
        int kind = PyUnicode_KIND(raw);
        const void *data = PyUnicode_DATA(raw);
        Py_ssize_t out = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            const char *as = c < 128 ? NULL : typographic(c);
            if (c < 128) {
                text[out++] = (unsigned char)c;
            } else if (as == NULL) {
                PyMem_Free(text);
                PyMem_Free(next);
                Py_RETURN_NONE; /* anything else: NFKC, confusables, Python */
            } else {
                while (*as) text[out++] = (unsigned char)*as++;
            }
        }
        n = out < 65536 ? out : 65536; /* cut again after "…" grew to "..." */
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (text[i] >= 'A' && text[i] <= 'Z') text[i] += 'a' - 'A';
    n = join_split(text, n); /* _fold: the same as its shortcut when nothing is to join */
    PyObject *result = NULL;
    for (int round = 0; round < 8; round++) {
        /* _step: "!" and "|" between two letters (of the text before this round) */
        memcpy(next, text, (size_t)n);
        for (Py_ssize_t i = 1; i + 1 < n; i++)
            if ((text[i] == '!' || text[i] == '|') && letter(text[i - 1]) && letter(text[i + 1]))
                next[i] = text[i] == '!' ? 'i' : 'l';
        /* _hints on that text: leetspeak or spelled-out letters send it to Python */
        int leety = 0, spaced = 0, singles = 0, repeat = 0;
        Py_ssize_t run = 0;
        char before = ' ';
        for (Py_ssize_t i = 0; i <= n; i++) {
            unsigned char c = i < n ? next[i] : ' ';
            char cls = letter(c) ? 'a' : leet(c) ? '1' : ' ';
            leety |= (before == 'a' && cls == '1') || (before == '1' && cls == 'a');
            if (cls != ' ') {
                run++;
            } else if (run) {
                singles = run == 1 ? singles + 1 : 0;
                spaced |= singles >= 3;
                run = 0;
            }
            before = cls;
            repeat |= i + 2 < n && c == next[i + 1] && c == next[i + 2];
        }
        if (leety || spaced) goto done;
        Py_ssize_t m = n;
        if (repeat) { /* runs of three or more of one character -> one */
            m = 0;
            for (Py_ssize_t i = 0; i < n;) {
                Py_ssize_t j = i + 1;
                while (j < n && next[j] == next[i]) j++;
                if (j - i >= 3) {
                    next[m++] = next[i];
                } else {
                    memmove(next + m, next + i, (size_t)(j - i));
                    m += j - i;
                }
                i = j;
            }
            m = join_split(next, m);
        }
        int same = m == n && memcmp(next, text, (size_t)n) == 0;
        unsigned char *swap = text;
        text = next;
        next = swap;
        n = m;
        if (same) break;
    }
    Py_ssize_t start = 0; /* text[:MAX_CHARS].strip() */
    while (start < n && is_space(text[start])) start++;
    while (n > start && is_space(text[n - 1])) n--;
    result = PyUnicode_FromStringAndSize((const char *)text + start, n - start);
done:
    PyMem_Free(text);
    PyMem_Free(next);
    if (result == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return result;
}

static int base64_byte(unsigned char c) {
    return is_alnum(c) || c == '+' || c == '/' || c == '_' || c == '-' || c == '=';
}

/* Whether canonical._candidates(raw, canonical) may yield a payload (raw: s, n bytes;
 * canonical: c, m bytes). */
static int payloads_in(PyObject *raw, const unsigned char *c, Py_ssize_t m) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    if (n > 65536) n = 65536; /* canonical.MAX_CHARS: _decoded reads raw[:MAX_CHARS] */
    int kind = PyUnicode_KIND(raw);
    const void *data = PyUnicode_DATA(raw);
    Py_ssize_t run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch == '%') return 1;
        run = ch < 128 && base64_byte((unsigned char)ch) ? run + 1 : 0; /* on UTF-8 bytes */
        if (run >= 16) return 1;
    }
    /* _from_rot13: " text " with few English stop words and some rotated ones. str.count
     * counts each word's occurrences left to right without overlap ("a" in " a a " once);
     * here all twelve words are counted in one pass over the spaces that start them, and
     * the early "plainly English" stop only ever follows from the total, so it is the same. */
    if (m < 12) return 0;
    static const char *words[12] = {" the ", " and ", " to ", " you ", " a ", " of ",
                                    " gur ", " naq ", " gb ", " lbh ", " n ", " bs "};
    static const Py_ssize_t lengths[12] = {5, 5, 4, 5, 3, 4, 5, 5, 4, 5, 3, 4};
    Py_ssize_t found[12] = {0}, free_from[12] = {0};
    /* padded[i] is " " + canonical + " " at i */
#define PADDED(i) ((i) == 0 || (i) == m + 1 ? ' ' : c[(i) - 1])
    for (Py_ssize_t i = 0; i < m + 2; i++) {
        if (PADDED(i) != ' ' || i + 1 >= m + 2 || !strchr("tayognlb", PADDED(i + 1))) continue;
        for (int k = 0; k < 12; k++) {
            const char *w = words[k];
            Py_ssize_t len = lengths[k], j = 1;
            if (i < free_from[k] || i + len > m + 2) continue;
            while (j < len && PADDED(i + j) == (unsigned char)w[j]) j++;
            if (j == len) {
                found[k]++;
                free_from[k] = i + len;
            }
        }
    }
#undef PADDED
    Py_ssize_t plain = 0, shifted = 0;
    for (int k = 0; k < 6; k++) {
        plain += found[k];
        shifted += found[k + 6];
    }
    if (plain * 80 > m + 2) return 0; /* plainly English */
    return shifted >= 2 && shifted > 2 * plain;
}

/* payloads_possible(raw, canonical) -> False when canonical._candidates(raw, canonical) can
 * yield nothing (no 16-character base64 run, no "%", and not rot13 by its stop words), True
 * when it may; None when the canonical text is not ASCII. */
static PyObject *payloads_possible(PyObject *module, PyObject *args) {
    PyObject *raw, *canonical;
    if (!PyArg_ParseTuple(args, "UU", &raw, &canonical)) return NULL;
    if (!PyUnicode_IS_ASCII(canonical)) Py_RETURN_NONE;
    return PyBool_FromLong(payloads_in(raw, PyUnicode_1BYTE_DATA(canonical),
                                       PyUnicode_GET_LENGTH(canonical)));
}

/* canonical_plain(raw) -> canonicalize(raw).text when that is all there is to screen: a text
 * canonical_ascii takes and that hides no payload; None for any other. */
static PyObject *canonical_plain(PyObject *module, PyObject *raw) {
    PyObject *canonical = canonical_ascii(module, raw);
    if (canonical == NULL || canonical == Py_None) return canonical;
    if (payloads_in(raw, PyUnicode_1BYTE_DATA(canonical), PyUnicode_GET_LENGTH(canonical))) {
        Py_DECREF(canonical);
        Py_RETURN_NONE;
    }
    return canonical;
}

/* ---------------------------------------------------------------- Screener ---------------- */

/* detectors.Detectors.screen in one call, for the texts every fast path above takes (ASCII,
 * nothing to undo but case, spacing, repeats and "!"/"|" inside words, no hidden payload):
 * canonical text, the lexicon's summary, the evidence gate and pseudo-words of its hits, the
 * gated head scores, the strong terms' floors, the sexual/minors rule and the verdict at the
 * Detectors' thresholds, with no Python call in between. Any other text: None, and
 * Detectors.screen takes its Python path (tests/detect/test_native.py compares the two). */
#define MAX_CATEGORIES 32
typedef struct {
    PyObject_HEAD
    HeadsTable *heads;
    TermTable *terms;
    PyTypeObject *screen; /* detectors.Screen, a named tuple */
    PyObject *names; /* CATEGORIES, the verdict's order */
    Py_ssize_t n_names;
    int rows[MAX_CATEGORIES]; /* per name: its head, or `heads` for the sexual/minors rule */
    double limits[MAX_CATEGORIES];
    int jailbreak, injection, sexual;
    double jailbreak_limit, injection_limit;
    uint32_t evidence[MAX_HEADS]; /* per head: lexicon categories that count as evidence */
    int floors[MAX_CATEGORIES]; /* per lexicon category: the head its strong terms floor */
    uint32_t lex_rows[MAX_CATEGORIES], lexs_rows[MAX_CATEGORIES], minor_row;
    Py_ssize_t n_lexicon;
    float no_evidence, strong;
    double minors_strong, minors_rule;
} Screener;

#define ANY_EVIDENCE UINT32_MAX /* a head that needs none (jailbreak, injection) */

static int read_ints(PyObject *seq, int *out, Py_ssize_t most, Py_ssize_t *count) {
    PyObject *fast = PySequence_Fast(seq, "a sequence of ints");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > most) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "Screener: too many items");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        out[i] = (int)v;
    }
    Py_DECREF(fast);
    *count = n;
    return 0;
}

static int read_doubles(PyObject *seq, double *out, Py_ssize_t expected) {
    PyObject *fast = PySequence_Fast(seq, "a sequence of floats");
    if (fast == NULL) return -1;
    if (PySequence_Fast_GET_SIZE(fast) != expected) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "Screener: one limit per name");
        return -1;
    }
    for (Py_ssize_t i = 0; i < expected; i++) {
        out[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

/* Screener(heads, terms, screen_type, names, rows, limits, (jailbreak, injection, sexual),
 *          (jailbreak_limit, injection_limit), evidence, floors, lex_rows, lexs_rows,
 *          minor_row, (no_evidence, strong, minors_strong, minors_rule))
 * rows: per name, its head index (the number of heads: the sexual/minors rule); evidence: per
 * head, the lexicon-category bits that count as evidence (all bits: none needed); floors,
 * lex_rows, lexs_rows: per lexicon category (in bit order), the head its strong terms floor
 * and the weight rows of its pseudo-words. */
static int Screener_init(Screener *self, PyObject *args, PyObject *kwds) {
    PyObject *heads, *terms, *screen, *names, *rows, *limits, *evidence, *floors, *lex, *lexs;
    unsigned long minor_row;
    double no_evidence, strong;
    if (self->heads != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Screener is built once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "O!O!O!O!OO(iii)(dd)OOOOk(dddd)", &HeadsTableType, &heads,
                          &TermTableType, &terms, &PyType_Type, &screen, &PyTuple_Type, &names,
                          &rows, &limits, &self->jailbreak, &self->injection, &self->sexual,
                          &self->jailbreak_limit, &self->injection_limit, &evidence, &floors,
                          &lex, &lexs, &minor_row, &no_evidence, &strong,
                          &self->minors_strong, &self->minors_rule))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)screen, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "Screener: the screen type is a named tuple");
        return -1;
    }
    HeadsTable *h = (HeadsTable *)heads;
    self->n_names = PyTuple_GET_SIZE(names);
    Py_ssize_t n, n_heads, n_lex, n_lexs;
    int evidence_ints[MAX_HEADS], lex_ints[MAX_CATEGORIES], lexs_ints[MAX_CATEGORIES];
    if (self->n_names > MAX_CATEGORIES ||
        read_ints(rows, self->rows, MAX_CATEGORIES, &n) < 0 ||
        read_doubles(limits, self->limits, self->n_names) < 0 ||
        read_ints(evidence, evidence_ints, MAX_HEADS, &n_heads) < 0 ||
        read_ints(floors, self->floors, MAX_CATEGORIES, &self->n_lexicon) < 0 ||
        read_ints(lex, lex_ints, MAX_CATEGORIES, &n_lex) < 0 ||
        read_ints(lexs, lexs_ints, MAX_CATEGORIES, &n_lexs) < 0)
        return PyErr_Occurred() ? -1 : (PyErr_SetString(PyExc_ValueError, "Screener"), -1);
    if (n != self->n_names || n_heads != (Py_ssize_t)h->heads || n_lex != self->n_lexicon ||
        n_lexs != self->n_lexicon || self->jailbreak < 0 || self->injection < 0 ||
        self->sexual < 0 || self->jailbreak >= n_heads || self->injection >= n_heads ||
        self->sexual >= n_heads) {
        PyErr_SetString(PyExc_ValueError, "Screener: inconsistent sizes");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (self->rows[i] < 0 || self->rows[i] > n_heads) {
            PyErr_SetString(PyExc_ValueError, "Screener: a row past the heads");
            return -1;
        }
    for (Py_ssize_t i = 0; i < self->n_lexicon; i++) {
        if (self->floors[i] >= n_heads) {
            PyErr_SetString(PyExc_ValueError, "Screener: a floor past the heads");
            return -1;
        }
        self->lex_rows[i] = (uint32_t)lex_ints[i];
        self->lexs_rows[i] = (uint32_t)lexs_ints[i];
    }
    for (Py_ssize_t j = 0; j < n_heads; j++) self->evidence[j] = (uint32_t)evidence_ints[j];
    self->minor_row = (uint32_t)minor_row;
    self->no_evidence = (float)no_evidence;
    self->strong = (float)strong;
    self->heads = (HeadsTable *)Py_NewRef(heads);
    self->terms = (TermTable *)Py_NewRef(terms);
    self->screen = (PyTypeObject *)Py_NewRef(screen);
    self->names = Py_NewRef(names);
    return 0;
}

static PyObject *Screener_screen(Screener *self, PyObject *raw) {
    PyObject *canonical = canonical_plain(NULL, raw);
    if (canonical == NULL || canonical == Py_None) return canonical;
    uint32_t strong, weak, minors;
    PyObject *masked = summarize(self->terms, canonical, PyUnicode_1BYTE_DATA(canonical),
                                 PyUnicode_GET_LENGTH(canonical), &strong, &weak, &minors);
    Py_DECREF(canonical);
    if (masked == NULL) return NULL;
    const HeadsTable *h = self->heads;
    uint32_t extra[MAX_EXTRA];
    Py_ssize_t n_extra = 0;
    /* features' order: __lex_ of each weak category, __lexs_ of each strong one (categories
     * in bit order, which is sorted order), then __lex_minor */
    for (Py_ssize_t i = 0; i < self->n_lexicon; i++)
        if (weak >> i & 1) extra[n_extra++] = self->lex_rows[i];
    for (Py_ssize_t i = 0; i < self->n_lexicon; i++)
        if (strong >> i & 1) extra[n_extra++] = self->lexs_rows[i];
    if (minors & TAG_MINORS_MINOR) extra[n_extra++] = self->minor_row;
    float gate[MAX_HEADS], z[MAX_HEADS], p[MAX_HEADS];
    for (uint32_t j = 0; j < h->heads; j++)
        gate[j] = self->evidence[j] == ANY_EVIDENCE || (weak & self->evidence[j])
            ? 1.0f : self->no_evidence;
    int failed = text_half_logits(h, PyUnicode_1BYTE_DATA(masked), PyUnicode_GET_LENGTH(masked),
                                  extra, n_extra, z);
    Py_DECREF(masked);
    if (failed) return NULL;
    for (uint32_t j = 0; j < h->heads; j++) {
        float t = (float)tanh((double)z[j]);
        float half = 0.5f * t;
        float score = 0.5f + half;
        p[j] = score * gate[j];
    }
    for (Py_ssize_t i = 0; i < self->n_lexicon; i++) /* strong terms floor their category */
        if ((strong >> i & 1) && self->floors[i] >= 0 && p[self->floors[i]] < self->strong)
            p[self->floors[i]] = self->strong;
    double rule = minors & TAG_MINORS_STRONG ? self->minors_strong
        : !(minors & TAG_MINORS_MINOR) ? 0.0
        : minors & TAG_MINORS_SEXUAL ? self->minors_rule : (double)p[self->sexual];
    /* the verdict: values in the names' order, then the jailbreak's and the injection's */
    Py_ssize_t n = self->n_names, flagged_count = 0;
    double values[MAX_CATEGORIES + 2];
    int flagged[MAX_CATEGORIES];
    for (Py_ssize_t i = 0; i < n; i++) {
        values[i] = self->rows[i] == (int)h->heads ? rule : (double)p[self->rows[i]];
        flagged[i] = values[i] >= self->limits[i];
        flagged_count += flagged[i];
    }
    double jb = p[self->jailbreak], inj = p[self->injection];
    values[n] = jb;
    values[n + 1] = inj;
    PyObject *names = PyTuple_New(flagged_count), *tuple = PyTuple_New(n + 2);
    PyObject *result = self->screen->tp_alloc(self->screen, 6);
    if (names == NULL || tuple == NULL || result == NULL) goto fail;
    for (Py_ssize_t i = 0, k = 0; i < n; i++)
        if (flagged[i]) PyTuple_SET_ITEM(names, k++, Py_NewRef(PyTuple_GET_ITEM(self->names, i)));
    for (Py_ssize_t i = 0; i < n + 2; i++) {
        PyObject *value = PyFloat_FromDouble(values[i]);
        if (value == NULL) goto fail;
        PyTuple_SET_ITEM(tuple, i, value);
    }
    PyObject *jb_value = PyTuple_GET_ITEM(tuple, n), *inj_value = PyTuple_GET_ITEM(tuple, n + 1);
    PyTuple_SET_ITEM(result, 0, names);
    PyTuple_SET_ITEM(result, 1, Py_NewRef(jb_value));
    PyTuple_SET_ITEM(result, 2, Py_NewRef(inj_value));
    PyTuple_SET_ITEM(result, 3, PyBool_FromLong(jb >= self->jailbreak_limit));
    PyTuple_SET_ITEM(result, 4, PyBool_FromLong(inj >= self->injection_limit));
    PyTuple_SET_ITEM(result, 5, tuple);
    return result;
fail:
    Py_XDECREF(names);
    Py_XDECREF(tuple);
    Py_XDECREF(result);
    return NULL;
}

static int Screener_traverse(Screener *self, visitproc visit, void *arg) {
    Py_VISIT(self->heads);
    Py_VISIT(self->terms);
    Py_VISIT(self->screen);
    Py_VISIT(self->names);
    return 0;
}

static int Screener_clear(Screener *self) {
    Py_CLEAR(self->heads);
    Py_CLEAR(self->terms);
    Py_CLEAR(self->screen);
    Py_CLEAR(self->names);
    return 0;
}

static void Screener_dealloc(Screener *self) {
    PyObject_GC_UnTrack(self);
    Screener_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Screener_methods[] = {
    {"screen", (PyCFunction)Screener_screen, METH_O,
     "screen(text) -> the Screen of an ASCII text every fast path takes, else None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScreenerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "goodstanding.detect._native.Screener",
    .tp_basicsize = sizeof(Screener),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Detectors.screen in one call for most texts (see detectors.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Screener_init,
    .tp_traverse = (traverseproc)Screener_traverse,
    .tp_clear = (inquiry)Screener_clear,
    .tp_dealloc = (destructor)Screener_dealloc,
    .tp_methods = Screener_methods,
};

/* rounded(keys, values) -> {key: round(value * 10_000) / 10_000}: a screen's scores as the
 * audit record keeps them, in one call (checks/detectors.py says why this rounding is
 * round(value, 4) for a score). nearbyint rounds half to even, as Python's round does. */
static PyObject *rounded(PyObject *module, PyObject *args) {
    PyObject *keys, *values;
    if (!PyArg_ParseTuple(args, "OO", &keys, &values)) return NULL;
    PyObject *k = PySequence_Fast(keys, "rounded() takes a sequence of keys");
    if (k == NULL) return NULL;
    PyObject *v = PySequence_Fast(values, "rounded() takes a sequence of values");
    if (v == NULL) {
        Py_DECREF(k);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(k);
    if (PySequence_Fast_GET_SIZE(v) < n) n = PySequence_Fast_GET_SIZE(v);
    PyObject *found = PyDict_New();
    for (Py_ssize_t i = 0; found != NULL && i < n; i++) {
        double x = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(v, i));
        PyObject *value = x == -1.0 && PyErr_Occurred()
            ? NULL : PyFloat_FromDouble(nearbyint(x * 10000.0) / 10000.0);
        if (value == NULL || PyDict_SetItem(found, PySequence_Fast_GET_ITEM(k, i), value) < 0)
            Py_CLEAR(found);
        Py_XDECREF(value);
    }
    Py_DECREF(k);
    Py_DECREF(v);
    return found;
}

static PyMethodDef functions[] = {
    {"rounded", (PyCFunction)rounded, METH_VARARGS,
     "rounded(keys, values) -> {key: round(value * 10_000) / 10_000}"},
    {"hints", (PyCFunction)hints, METH_O,
     "hints(text) -> canonical._hints(text), read as UTF-8; None if it cannot be encoded"},
    {"canonical_plain", (PyCFunction)canonical_plain, METH_O,
     "canonical_plain(raw) -> the canonical text when nothing else is to screen, else None"},
    {"finish_scores", (PyCFunction)finish_scores, METH_VARARGS,
     "finish_scores(half_logits, gate) -> [gated score per head]"},
    {"canonical_ascii", (PyCFunction)canonical_ascii, METH_O,
     "canonical_ascii(raw) -> canonical._canonical_text(raw) for most ASCII texts, else None"},
    {"payloads_possible", (PyCFunction)payloads_possible, METH_VARARGS,
     "payloads_possible(raw, canonical) -> whether a hidden payload may be found"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "The always-on layer's hot loops (see _native.c)", -1,
    functions,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&HeadsTableType) < 0 || PyType_Ready(&TermTableType) < 0 ||
        PyType_Ready(&ScreenerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "HeadsTable", (PyObject *)&HeadsTableType) < 0 ||
        PyModule_AddObjectRef(m, "TermTable", (PyObject *)&TermTableType) < 0 ||
        PyModule_AddObjectRef(m, "Screener", (PyObject *)&ScreenerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
