/* Compiled kernels of the wavefront rANS coder: the same processes as rans_decoder.py and
 * encoder/rans_encoder.py, step by step, for speed. Optional: vcmref falls back to numpy.
 * The decoder kernel follows the normative process of docs/spec.md exactly; tests check that
 * both implementations give identical results on every stream. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROB_BITS 12
#define PROB_MASK ((1 << PROB_BITS) - 1)
#define STATE_BITS 16
#define STATE_LOW (1 << STATE_BITS)
#define ABSENT_TOKEN 0xFF

/* Error codes, mapped to messages in Python. */
#define E_OVERRUN_STATES (-1)
#define E_OVERRUN_RENORM (-2)
#define E_OVERRUN_ESCAPE (-3)
#define E_ABSENT_CONTEXT (-4)
#define E_TRAILING_BITS (-5)
#define E_NOMEM (-6)

static inline uint32_t read_bits(const uint8_t *buf, int64_t pos, int nb) {
    if (nb == 0) return 0;
    const uint8_t *p = buf + (pos >> 3);
    uint32_t w = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[2];
    return (w >> (24 - (int)(pos & 7) - nb)) & ((1u << nb) - 1u);
}

static inline void write_bits(uint8_t *buf, int64_t pos, uint32_t value, int nb) {
    for (int i = nb - 1; i >= 0; i--, pos++) {
        uint8_t bit = (uint8_t)((value >> i) & 1u);
        uint8_t mask = (uint8_t)(0x80u >> (pos & 7));
        if (bit) buf[pos >> 3] |= mask; else buf[pos >> 3] &= (uint8_t)~mask;
    }
}

static inline int bit_length(uint32_t v) { return v ? 32 - __builtin_clz(v) : 0; }

/* buf: the ANS data followed by zero bytes (limit_bits = bits that may be read). */
static int decode_unit(uint8_t *buf, int64_t limit_bits, int64_t n, const int64_t *above,
                       const int64_t *left, int64_t num_steps, const int64_t *bounds,
                       const int64_t *lane_starts, const int64_t *lane_retires,
                       const int32_t *cum, int64_t n_tok, const int64_t *token_class,
                       int64_t max_class, int64_t direct_log2, int64_t *tokens,
                       int64_t *final_pos) {
    int64_t max_width = 0;
    for (int64_t s = 0; s < num_steps; s++)
        if (bounds[s + 1] - bounds[s] > max_width) max_width = bounds[s + 1] - bounds[s];
    int64_t n_ctx = (max_class + 1) * (max_class + 1);
    uint32_t *x = (uint32_t *)calloc((size_t)(max_width + 1), sizeof(uint32_t));
    uint8_t *capped = (uint8_t *)calloc((size_t)(n + 1), 1);
    /* Slot -> token table of every context (ABSENT_TOKEN for an absent context). */
    uint8_t *lut = (uint8_t *)malloc((size_t)(n_ctx << PROB_BITS));
    if (!x || !capped || !lut) { free(x); free(capped); free(lut); return E_NOMEM; }
    for (int64_t c = 0; c < n_ctx; c++) {
        const int32_t *row = cum + c * (n_tok + 1);
        uint8_t *dst = lut + (c << PROB_BITS);
        if (row[n_tok] == 0) { memset(dst, ABSENT_TOKEN, 1 << PROB_BITS); continue; }
        for (int64_t t = 0; t < n_tok; t++)
            if (row[t + 1] > row[t]) memset(dst + row[t], (int)t, (size_t)(row[t + 1] - row[t]));
    }
    int64_t rp = 0;
    int64_t stride = max_class + 1;
    int rc = 0;
    for (int64_t s = 0; s < num_steps && rc == 0; s++) {
        int64_t s0 = bounds[s], width = bounds[s + 1] - s0;
        for (int64_t j = lane_starts[s]; j < width; j++) {
            if (rp + STATE_BITS > limit_bits) { rc = E_OVERRUN_STATES; break; }
            x[j] = STATE_LOW + read_bits(buf, rp, STATE_BITS);
            rp += STATE_BITS;
        }
        if (rc) break;
        for (int64_t j = 0; j < width; j++) {
            int64_t i = s0 + j;
            int64_t ctx = capped[above[i]] * stride + capped[left[i]];
            uint32_t xs = x[j];
            int32_t slot = (int32_t)(xs & PROB_MASK);
            /* cum row: n_tok + 1 entries, cum[0] = 0, cum[n_tok] = 4096; an absent context
             * decodes as ABSENT_TOKEN. */
            const int32_t *c = cum + ctx * (n_tok + 1);
            int64_t tok = lut[(ctx << PROB_BITS) | slot];
            uint32_t f, bias;
            if (tok == ABSENT_TOKEN) {
                f = 1; bias = 0;
            } else {
                f = (uint32_t)(c[tok + 1] - c[tok]);
                bias = (uint32_t)(slot - c[tok]);
            }
            uint32_t xp = f * (xs >> PROB_BITS) + bias;
            int nb = STATE_BITS + 1 - bit_length(xp);
            if (rp + nb > limit_bits) { rc = E_OVERRUN_RENORM; break; }
            x[j] = (xp << nb) | read_bits(buf, rp, nb);
            rp += nb;
            tokens[i] = tok;
            capped[i] = (uint8_t)token_class[tok];
        }
        if (rc) break;
        int64_t k = width - lane_retires[s];
        if (k > 0) {
            rp -= STATE_BITS * k;
            for (int64_t j = lane_retires[s]; j < width; j++)
                write_bits(buf, rp + STATE_BITS * (j - lane_retires[s]), x[j] - STATE_LOW,
                           STATE_BITS);
        }
    }
    if (rc == 0) {
        int64_t direct = (int64_t)1 << direct_log2;
        for (int64_t i = 0; i < n; i++) {
            int64_t tok = tokens[i];
            if (tok < direct) continue;
            if (tok == ABSENT_TOKEN) { rc = E_ABSENT_CONTEXT; break; }
            int klen = (int)(tok - direct + direct_log2);
            if (rp + klen > limit_bits) { rc = E_OVERRUN_ESCAPE; break; }
            tokens[i] = ((int64_t)1 << klen) + read_bits(buf, rp, klen);
            rp += klen;
        }
    }
    *final_pos = rp;
    free(x);
    free(capped);
    free(lut);
    return rc;
}

static PyObject *py_decode_unit(PyObject *self, PyObject *args) {
    Py_buffer bbuf, above, left, bounds, starts, retires, cum, classes, tokens;
    Py_ssize_t limit_bits, n_tok, max_class, direct_log2;
    if (!PyArg_ParseTuple(args, "w*ny*y*y*y*y*y*ny*nnw*", &bbuf, &limit_bits, &above, &left,
                          &bounds, &starts, &retires, &cum, &n_tok, &classes, &max_class,
                          &direct_log2, &tokens))
        return NULL;
    int64_t n = (int64_t)(tokens.len / 8);
    int64_t steps = (int64_t)(bounds.len / 8) - 1;
    int64_t final_pos = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = decode_unit((uint8_t *)bbuf.buf, limit_bits, n, (const int64_t *)above.buf,
                     (const int64_t *)left.buf, steps, (const int64_t *)bounds.buf,
                     (const int64_t *)starts.buf, (const int64_t *)retires.buf,
                     (const int32_t *)cum.buf, n_tok, (const int64_t *)classes.buf, max_class,
                     direct_log2, (int64_t *)tokens.buf, &final_pos);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bbuf); PyBuffer_Release(&above); PyBuffer_Release(&left);
    PyBuffer_Release(&bounds); PyBuffer_Release(&starts); PyBuffer_Release(&retires);
    PyBuffer_Release(&cum); PyBuffer_Release(&classes); PyBuffer_Release(&tokens);
    return Py_BuildValue("iL", rc, (long long)final_pos);
}

/* Encoder: bits kept one per byte in reverse reading order (the top is the end). */
typedef struct { uint8_t *bits; int64_t size, cap; } stack_t;

static int stack_reserve(stack_t *st, int64_t extra) {
    if (st->size + extra <= st->cap) return 0;
    int64_t nc = (st->cap + extra) * 2;
    uint8_t *nb = (uint8_t *)realloc(st->bits, (size_t)nc);
    if (!nb) return E_NOMEM;
    st->bits = nb; st->cap = nc;
    return 0;
}

/* Push value's nb bits so that the decoder reads them MSB first, after what is pushed later. */
static void push_field_reversed(stack_t *st, uint32_t value, int nb) {
    for (int i = 0; i < nb; i++) st->bits[st->size++] = (uint8_t)((value >> i) & 1u);
}

static PyObject *py_encode_unit(PyObject *self, PyObject *args) {
    /* Tables are flat (context, token) arrays; `symbols` gives each sample's flat index. */
    Py_buffer freq, cum, base, thr, symbols, raw_len, raw_val, bounds, starts, retires;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*", &freq, &cum, &base, &thr, &symbols,
                          &raw_len, &raw_val, &bounds, &starts, &retires))
        return NULL;
    const int64_t *F = freq.buf, *C = cum.buf, *B = base.buf, *T = thr.buf;
    const int64_t *S = symbols.buf;
    const int64_t *RL = raw_len.buf, *RV = raw_val.buf, *BD = bounds.buf;
    const int64_t *LS = starts.buf, *LR = retires.buf;
    int64_t n = (int64_t)(symbols.len / 8), steps = (int64_t)(bounds.len / 8) - 1;
    int64_t max_width = 0;
    for (int64_t s = 0; s < steps; s++)
        if (BD[s + 1] - BD[s] > max_width) max_width = BD[s + 1] - BD[s];
    stack_t st = {NULL, 0, 0};
    uint32_t *x = (uint32_t *)malloc((size_t)(max_width + 1) * sizeof(uint32_t));
    int rc = x ? stack_reserve(&st, n * 14 + max_width * STATE_BITS + 64) : E_NOMEM;
    PyObject *result = NULL;
    if (rc == 0) {
        int64_t raw_total = 0;
        for (int64_t i = 0; i < n; i++) raw_total += RL[i];
        rc = stack_reserve(&st, raw_total);
    }
    if (rc == 0) {
        /* Escape bits are read last: push them first, last escape first. */
        for (int64_t i = n - 1; i >= 0; i--)
            push_field_reversed(&st, (uint32_t)RV[i], (int)RL[i]);
        for (int64_t j = 0; j < max_width; j++) x[j] = STATE_LOW;
        for (int64_t s = steps - 1; s >= 0 && rc == 0; s--) {
            int64_t s0 = BD[s], width = BD[s + 1] - s0;
            int64_t k = width - LR[s];
            if (k > 0) {
                /* Pop STATE_BITS * k bits (zeros below the bottom), lowest lane first. */
                for (int64_t j = LR[s]; j < width; j++) {
                    uint32_t v = 0;
                    for (int b = 0; b < STATE_BITS; b++) {
                        uint32_t bit = 0;
                        if (st.size > 0) bit = st.bits[--st.size];
                        v = (v << 1) | bit;
                    }
                    x[j] = STATE_LOW + v;
                }
            }
            if ((rc = stack_reserve(&st, width * (PROB_BITS + 1) + width * STATE_BITS)))
                break;
            /* The decoder reads lane 0's bits first: push the last lane first. */
            for (int64_t j = width - 1; j >= 0; j--) {
                int64_t k = S[s0 + j];
                uint32_t xs = x[j];
                int nb = (int)B[k] + ((int64_t)xs >= T[k] ? 1 : 0);
                push_field_reversed(&st, xs & ((1u << nb) - 1u), nb);
                xs >>= nb;
                uint32_t f = (uint32_t)F[k];
                x[j] = ((xs / f) << PROB_BITS) + (xs % f) + (uint32_t)C[k];
            }
            for (int64_t j = width - 1; j >= LS[s]; j--)
                push_field_reversed(&st, x[j] - STATE_LOW, STATE_BITS);
        }
    }
    if (rc == 0) {
        int64_t nbytes = (st.size + 7) / 8;
        result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)nbytes);
        if (result) {
            uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
            memset(out, 0, (size_t)nbytes);
            for (int64_t i = 0; i < st.size; i++)
                if (st.bits[st.size - 1 - i]) out[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
        }
    }
    free(x);
    free(st.bits);
    PyBuffer_Release(&freq); PyBuffer_Release(&cum); PyBuffer_Release(&base);
    PyBuffer_Release(&thr); PyBuffer_Release(&symbols); PyBuffer_Release(&raw_len);
    PyBuffer_Release(&raw_val);
    PyBuffer_Release(&bounds); PyBuffer_Release(&starts); PyBuffer_Release(&retires);
    if (rc) return PyErr_NoMemory();
    return result;
}

/* Samples from magnitude indices u (decoding order): unzigzag, add the tile's sample offset,
 * check the range, and store each at its flat index of the (C, H, W) int32 tensor. */
static PyObject *py_place_samples(PyObject *self, PyObject *args) {
    Py_buffer ubuf, ibuf, obuf;
    long long offset, smin, smax;
    if (!PyArg_ParseTuple(args, "y*y*LLLw*", &ubuf, &ibuf, &offset, &smin, &smax, &obuf))
        return NULL;
    const int64_t *u = ubuf.buf, *index = ibuf.buf;
    int32_t *out = obuf.buf;
    int64_t n = (int64_t)(ubuf.len / 8), size = (int64_t)(obuf.len / 4);
    int rc = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (u[i] >> 1) ^ -(u[i] & 1);
        v += offset;
        if (v < smin || v > smax) { rc = -7; break; }
        if (index[i] < 0 || index[i] >= size) { rc = -8; break; }
        out[index[i]] = (int32_t)v;
    }
    PyBuffer_Release(&ubuf); PyBuffer_Release(&ibuf); PyBuffer_Release(&obuf);
    return PyLong_FromLong(rc);
}

static PyMethodDef methods[] = {
    {"place_samples", py_place_samples, METH_VARARGS, "Store a unit's decoded samples."},
    {"decode_unit", py_decode_unit, METH_VARARGS, "Decode one data unit's tokens."},
    {"encode_unit", py_encode_unit, METH_VARARGS, "Encode one data unit's tokens."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ranskernel",
                                    "Compiled wavefront rANS kernels.", -1, methods};

PyMODINIT_FUNC PyInit__ranskernel(void) { return PyModule_Create(&module); }
