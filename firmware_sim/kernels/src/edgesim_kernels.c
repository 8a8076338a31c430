/* edgesim int8 kernels for Armv7E-M (Cortex-M4/M7 with the DSP extension).
 *
 * Structure follows the CMSIS-NN DSP paths (ARM-software/CMSIS-NN, Source/):
 *   conv_s8          <- arm_convolve_s8 + arm_nn_mat_mult_kernel_s8_s16 (im2col of two output
 *                       pixels into int16 with the input offset, 2x2 output tile, SMLAD)
 *   conv_1x1_s8      <- arm_convolve_1x1_s8(_fast) + arm_nn_mat_mult_nt_t_s8 (int8 x int8,
 *                       SXTB16 on both operands, input offset folded in via the weight sums)
 *   depthwise_s8     <- arm_depthwise_conv_3x3_s8 (4 channels per word, SMLABB/SMLATT)
 *   fully_connected_s8 <- arm_fully_connected_s8 + arm_nn_vec_mat_mult_t_s8 (SXTAB16 adds the
 *                       input offset while widening, two weight rows per pass)
 *   avgpool_s8 / maxpool_s8 <- arm_avgpool_s8 / arm_max_pool_s8
 *   add_s8           <- arm_elementwise_add_s8
 *   softmax_s8       <- arm_softmax_s8 (gemmlowp fixed-point exp and reciprocal)
 *   copy_s8          <- TFLM reshape (memcpy)
 * Requantisation is TFLite's MultiplyByQuantizedMultiplier (double rounding), written as
 * CMSIS-NN's arm_nn_requantize does it (SMLAL with a 2^30 nudge, then a rounding shift);
 * both give identical results for every input.
 *
 * Every kernel takes one pointer to a block of 32-bit words (layout in kernels/params.py),
 * so the host can call it with R0 only. No libc: -ffreestanding, no builtins.
 */
#include <stdint.h>

#define INT32_MIN_ (-2147483647 - 1)

static inline int32_t sxtb16(uint32_t x) { int32_t r; __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x)); return r; }
static inline int32_t sxtb16_ror8(uint32_t x) { int32_t r; __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x)); return r; }
static inline int32_t sxtab16(uint32_t a, uint32_t x) { int32_t r; __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(x)); return r; }
static inline int32_t sxtab16_ror8(uint32_t a, uint32_t x) { int32_t r; __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x)); return r; }
static inline int32_t smlad(int32_t a, int32_t b, int32_t acc) { int32_t r; __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc)); return r; }
static inline int32_t smlabb(int32_t a, int32_t b, int32_t acc) { int32_t r; __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc)); return r; }
static inline int32_t smlatt(int32_t a, int32_t b, int32_t acc) { int32_t r; __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc)); return r; }
static inline int32_t pkhbt16(int32_t a, int32_t b) { int32_t r; __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b)); return r; }
static inline int32_t pkhtb16(int32_t a, int32_t b) { int32_t r; __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b)); return r; }

static inline uint32_t read_u32(const void *p) {  /* unaligned word read: one LDR on v7E-M */
    uint32_t v; __builtin_memcpy(&v, p, 4); return v;
}
static inline void write_u32(void *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

/* ---- TFLite fixed-point arithmetic (tensorflow/lite/kernels/internal/common.h, gemmlowp) ---- */

/* SaturatingRoundingDoublingHighMul; arm_nn_doubling_high_mult_no_sat form (SMLAL). */
static inline int32_t doubling_high_mult(int32_t a, int32_t b) {
    if (a == INT32_MIN_ && b == INT32_MIN_) return 2147483647;
    int64_t m = (int64_t)(1 << 30) + (int64_t)a * b;
    return (int32_t)(m >> 31);
}

/* RoundingDivideByPOT (arm_nn_divide_by_power_of_two). */
static inline int32_t divide_by_pot(int32_t x, int32_t exponent) {
    if (exponent == 0) return x;
    const int32_t mask = (int32_t)((1u << exponent) - 1);
    const int32_t remainder = x & mask;
    int32_t result = x >> exponent;
    int32_t threshold = mask >> 1;
    if (result < 0) threshold++;
    if (remainder > threshold) result++;
    return result;
}

/* MultiplyByQuantizedMultiplier (arm_nn_requantize). */
static inline int32_t requantize(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return divide_by_pot(doubling_high_mult((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int32_t clamp(int32_t v, int32_t lo, int32_t hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* ---- convolution: im2col of two pixels + 2x2 int8 x int16 matrix kernel ---- */

typedef struct {
    const int8_t *input; const int8_t *weights; const int32_t *bias; int8_t *output;
    const int32_t *mult; const int32_t *shift; int16_t *scratch;
    int32_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t dil_h, dil_w, in_offset, out_offset, act_min, act_max;
} conv_params;

/* arm_q7_to_q15_with_offset: widen n int8 values to int16 adding `offset` (SXTAB16 + PKH). */
static void q7_to_q15_with_offset(const int8_t *src, int16_t *dst, int32_t n, int32_t offset) {
    const uint32_t off2 = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    int32_t cnt = n >> 2;
    while (cnt-- > 0) {
        const uint32_t in = read_u32(src); src += 4;
        const int32_t odd = sxtab16_ror8(off2, in);   /* x1, x3 */
        const int32_t even = sxtab16(off2, in);       /* x0, x2 */
        write_u32(dst, (uint32_t)pkhbt16(even, odd));     /* x0 | x1 << 16 */
        write_u32(dst + 2, (uint32_t)pkhtb16(odd, even)); /* x2 | x3 << 16 */
        dst += 4;
    }
    cnt = n & 3;
    while (cnt-- > 0) *dst++ = (int16_t)(*src++ + offset);
}

/* read_and_pad: four int8 weights -> two words of int16 pairs (w0,w1) and (w2,w3). */
static inline const int8_t *read_and_pad(const int8_t *src, int32_t *lo, int32_t *hi) {
    const uint32_t in = read_u32(src);
    const int32_t odd = sxtb16_ror8(in), even = sxtb16(in);
    *lo = pkhbt16(even, odd);
    *hi = pkhtb16(odd, even);
    return src + 4;
}

static void im2col_pixel(const conv_params *p, int32_t oy, int32_t ox, int16_t *col) {
    const int32_t base_y = oy * p->stride_h - p->pad_h, base_x = ox * p->stride_w - p->pad_w;
    const int32_t c = p->in_c;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = base_y + ky * p->dil_h;
        for (int32_t kx = 0; kx < p->k_w; kx++) {
            const int32_t ix = base_x + kx * p->dil_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (int32_t i = 0; i < c; i++) col[i] = 0;   /* offset-added zero: no contribution */
            } else {
                q7_to_q15_with_offset(p->input + (iy * p->in_w + ix) * c, col, c, p->in_offset);
            }
            col += c;
        }
    }
}

static inline int8_t finish(int32_t acc, const conv_params *p, int32_t ch) {
    acc = requantize(acc, p->mult[ch], p->shift[ch]) + p->out_offset;
    return (int8_t)clamp(acc, p->act_min, p->act_max);
}

/* arm_nn_mat_mult_kernel_s8_s16: weights [out_c][k] int8 times two int16 columns. */
static void mat_mult_two_cols(const conv_params *p, const int16_t *col0, int32_t k,
                              int8_t *out0, int8_t *out1) {
    const int16_t *col1 = col0 + k;
    const int8_t *w0 = p->weights;
    int32_t ch = 0;
    for (; ch + 1 < p->out_c; ch += 2) {
        const int8_t *w1 = w0 + k;
        int32_t s00 = p->bias ? p->bias[ch] : 0, s01 = s00;
        int32_t s10 = p->bias ? p->bias[ch + 1] : 0, s11 = s10;
        const int16_t *a = col0, *b = col1;
        int32_t cnt = k >> 2;
        while (cnt-- > 0) {
            int32_t wa0, wa1, wb0, wb1;
            w0 = read_and_pad(w0, &wa0, &wa1);
            w1 = read_and_pad(w1, &wb0, &wb1);
            const int32_t a0 = (int32_t)read_u32(a), b0 = (int32_t)read_u32(b);
            s00 = smlad(wa0, a0, s00); s01 = smlad(wa0, b0, s01);
            s10 = smlad(wb0, a0, s10); s11 = smlad(wb0, b0, s11);
            const int32_t a1 = (int32_t)read_u32(a + 2), b1 = (int32_t)read_u32(b + 2);
            s00 = smlad(wa1, a1, s00); s01 = smlad(wa1, b1, s01);
            s10 = smlad(wb1, a1, s10); s11 = smlad(wb1, b1, s11);
            a += 4; b += 4;
        }
        cnt = k & 3;
        while (cnt-- > 0) {
            const int32_t x0 = *w0++, x1 = *w1++, ca = *a++, cb = *b++;
            s00 += x0 * ca; s01 += x0 * cb; s10 += x1 * ca; s11 += x1 * cb;
        }
        out0[ch] = finish(s00, p, ch); out0[ch + 1] = finish(s10, p, ch + 1);
        out1[ch] = finish(s01, p, ch); out1[ch + 1] = finish(s11, p, ch + 1);
        w0 = w1;
    }
    if (ch < p->out_c) {  /* odd number of filters: the last one alone */
        int32_t s0 = p->bias ? p->bias[ch] : 0, s1 = s0;
        const int16_t *a = col0, *b = col1;
        int32_t cnt = k >> 2;
        while (cnt-- > 0) {
            int32_t wa0, wa1;
            w0 = read_and_pad(w0, &wa0, &wa1);
            s0 = smlad(wa0, (int32_t)read_u32(a), s0); s1 = smlad(wa0, (int32_t)read_u32(b), s1);
            s0 = smlad(wa1, (int32_t)read_u32(a + 2), s0); s1 = smlad(wa1, (int32_t)read_u32(b + 2), s1);
            a += 4; b += 4;
        }
        cnt = k & 3;
        while (cnt-- > 0) { const int32_t x = *w0++; s0 += x * *a++; s1 += x * *b++; }
        out0[ch] = finish(s0, p, ch); out1[ch] = finish(s1, p, ch);
    }
}

/* One leftover pixel (odd pixel count): a plain dot product per filter. */
static void mat_mult_one_col(const conv_params *p, const int16_t *col, int32_t k, int8_t *out) {
    const int8_t *w = p->weights;
    for (int32_t ch = 0; ch < p->out_c; ch++) {
        int32_t s = p->bias ? p->bias[ch] : 0;
        const int16_t *a = col;
        int32_t cnt = k >> 2;
        while (cnt-- > 0) {
            int32_t w0, w1;
            w = read_and_pad(w, &w0, &w1);
            s = smlad(w0, (int32_t)read_u32(a), s);
            s = smlad(w1, (int32_t)read_u32(a + 2), s);
            a += 4;
        }
        cnt = k & 3;
        while (cnt-- > 0) s += *w++ * *a++;
        out[ch] = finish(s, p, ch);
    }
}

void conv_s8(const conv_params *p) {
    const int32_t k = p->k_h * p->k_w * p->in_c;
    int16_t *col = p->scratch;
    int32_t filled = 0;
    int8_t *first_out = p->output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            im2col_pixel(p, oy, ox, col + filled * k);
            filled++;
            if (filled == 2) {
                mat_mult_two_cols(p, col, k, first_out, first_out + p->out_c);
                first_out += 2 * p->out_c;
                filled = 0;
            }
        }
    }
    if (filled) mat_mult_one_col(p, col, k, first_out);
}

/* ---- 1x1 convolution: arm_nn_mat_mult_nt_t_s8 (pixels x filters, int8 x int8) ---- */

/* Walks the input pixels a strided 1x1 convolution reads, in output order (no division). */
typedef struct { const int8_t *row; int32_t ox; } pixel_walk;

static inline const int8_t *next_pixel(const conv_params *p, pixel_walk *w) {
    const int8_t *ptr = w->row + w->ox * p->stride_w * p->in_c;
    if (++w->ox == p->out_w) { w->ox = 0; w->row += p->stride_h * p->in_w * p->in_c; }
    return ptr;
}

void conv_1x1_s8(const conv_params *p) {
    const int32_t k = p->in_c, rows = p->out_h * p->out_w, cout = p->out_c;
    const int8_t *w = p->weights;
    int32_t ch = 0;
    for (; ch + 1 < cout; ch += 2) {
        const int8_t *w1 = w + k;
        int32_t off0 = 0, off1 = 0;           /* lhs offset contribution: offset x sum(weights) */
        for (int32_t x = 0; x < k; x++) { off0 += w[x]; off1 += w1[x]; }
        off0 *= p->in_offset; off1 *= p->in_offset;
        if (p->bias) { off0 += p->bias[ch]; off1 += p->bias[ch + 1]; }
        int32_t r = 0;
        pixel_walk walk = {p->input, 0};
        for (; r + 1 < rows; r += 2) {
            const int8_t *l0 = next_pixel(p, &walk), *l1 = next_pixel(p, &walk);
            const int8_t *r0 = w, *r1 = w1;
            int32_t s00 = off0, s01 = off1, s10 = off0, s11 = off1;
            int32_t cnt = k >> 2;
            while (cnt-- > 0) {
                const uint32_t rv0 = read_u32(r0), rv1 = read_u32(r1); r0 += 4; r1 += 4;
                const int32_t r0e = sxtb16(rv0), r0o = sxtb16_ror8(rv0);
                const int32_t r1e = sxtb16(rv1), r1o = sxtb16_ror8(rv1);
                const uint32_t lv0 = read_u32(l0); l0 += 4;
                const int32_t l0e = sxtb16(lv0), l0o = sxtb16_ror8(lv0);
                s00 = smlad(l0e, r0e, s00); s00 = smlad(l0o, r0o, s00);
                s01 = smlad(l0e, r1e, s01); s01 = smlad(l0o, r1o, s01);
                const uint32_t lv1 = read_u32(l1); l1 += 4;
                const int32_t l1e = sxtb16(lv1), l1o = sxtb16_ror8(lv1);
                s10 = smlad(l1e, r0e, s10); s10 = smlad(l1o, r0o, s10);
                s11 = smlad(l1e, r1e, s11); s11 = smlad(l1o, r1o, s11);
            }
            cnt = k & 3;
            while (cnt-- > 0) {
                const int32_t a = *l0++, b = *l1++, x0 = *r0++, x1 = *r1++;
                s00 += a * x0; s01 += a * x1; s10 += b * x0; s11 += b * x1;
            }
            int8_t *d0 = p->output + r * cout + ch, *d1 = d0 + cout;
            d0[0] = finish(s00, p, ch); d0[1] = finish(s01, p, ch + 1);
            d1[0] = finish(s10, p, ch); d1[1] = finish(s11, p, ch + 1);
        }
        if (r < rows) {
            const int8_t *l0 = next_pixel(p, &walk);
            int32_t s0 = off0, s1 = off1;
            for (int32_t x = 0; x < k; x++) { s0 += l0[x] * w[x]; s1 += l0[x] * w1[x]; }
            int8_t *d0 = p->output + r * cout + ch;
            d0[0] = finish(s0, p, ch); d0[1] = finish(s1, p, ch + 1);
        }
        w = w1 + k;
    }
    if (ch < cout) {   /* odd filter count */
        int32_t off = 0;
        for (int32_t x = 0; x < k; x++) off += w[x];
        off = off * p->in_offset + (p->bias ? p->bias[ch] : 0);
        pixel_walk walk = {p->input, 0};
        for (int32_t r = 0; r < rows; r++) {
            const int8_t *l0 = next_pixel(p, &walk);
            int32_t s = off;
            for (int32_t x = 0; x < k; x++) s += l0[x] * w[x];
            p->output[r * cout + ch] = finish(s, p, ch);
        }
    }
}

/* ---- depthwise convolution (depth multiplier 1): four channels per word ---- */

void depthwise_s8(const conv_params *p) {
    const int32_t c = p->in_c;
    const uint32_t off2 = ((uint32_t)(uint16_t)p->in_offset << 16) | (uint16_t)p->in_offset;
    int8_t *out = p->output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t by = oy * p->stride_h - p->pad_h;
        int32_t ky0 = 0;                       /* first tap inside the input (no division) */
        while (ky0 < p->k_h && by + ky0 * p->dil_h < 0) ky0++;
        int32_t ky1 = p->k_h;
        while (ky1 > ky0 && by + (ky1 - 1) * p->dil_h >= p->in_h) ky1--;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t bx = ox * p->stride_w - p->pad_w;
            int32_t kx0 = 0;
            while (kx0 < p->k_w && bx + kx0 * p->dil_w < 0) kx0++;
            int32_t kx1 = p->k_w;
            while (kx1 > kx0 && bx + (kx1 - 1) * p->dil_w >= p->in_w) kx1--;
            int32_t ch = 0;
            for (; ch + 3 < c; ch += 4) {
                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                if (p->bias) { s0 = p->bias[ch]; s1 = p->bias[ch + 1]; s2 = p->bias[ch + 2]; s3 = p->bias[ch + 3]; }
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *in = p->input + ((by + ky * p->dil_h) * p->in_w + bx) * c + ch;
                    const int8_t *wt = p->weights + ky * p->k_w * c + ch;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const uint32_t iv = read_u32(in + kx * p->dil_w * c);
                        const uint32_t wv = read_u32(wt + kx * c);
                        const int32_t ie = sxtab16(off2, iv), io = sxtab16_ror8(off2, iv);
                        const int32_t we = sxtb16(wv), wo = sxtb16_ror8(wv);
                        s0 = smlabb(ie, we, s0); s2 = smlatt(ie, we, s2);
                        s1 = smlabb(io, wo, s1); s3 = smlatt(io, wo, s3);
                    }
                }
                out[ch] = finish(s0, p, ch); out[ch + 1] = finish(s1, p, ch + 1);
                out[ch + 2] = finish(s2, p, ch + 2); out[ch + 3] = finish(s3, p, ch + 3);
            }
            for (; ch < c; ch++) {
                int32_t s = p->bias ? p->bias[ch] : 0;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const int32_t iv = p->input[((by + ky * p->dil_h) * p->in_w + bx + kx * p->dil_w) * c + ch];
                        s += (iv + p->in_offset) * p->weights[(ky * p->k_w + kx) * c + ch];
                    }
                out[ch] = finish(s, p, ch);
            }
            out += c;
        }
    }
}

/* ---- fully connected: arm_nn_vec_mat_mult_t_s8 ---- */

typedef struct {
    const int8_t *input; const int8_t *weights; const int32_t *bias; int8_t *output;
    const int32_t *mult; const int32_t *shift;
    int32_t batches, in_depth, out_depth, in_offset, out_offset, act_min, act_max;
} fc_params;

void fully_connected_s8(const fc_params *p) {
    const int32_t k = p->in_depth;
    const uint32_t off2 = ((uint32_t)(uint16_t)p->in_offset << 16) | (uint16_t)p->in_offset;
    for (int32_t bt = 0; bt < p->batches; bt++) {
        const int8_t *lhs = p->input + bt * k;
        int8_t *dst = p->output + bt * p->out_depth;
        const int8_t *w = p->weights;
        int32_t r = 0;
        for (; r + 1 < p->out_depth; r += 2) {
            const int8_t *w1 = w + k, *x = lhs;
            int32_t a0 = p->bias ? p->bias[r] : 0, a1 = p->bias ? p->bias[r + 1] : 0;
            int32_t cnt = k >> 2;
            while (cnt-- > 0) {
                const uint32_t v = read_u32(x); x += 4;
                const int32_t vo = sxtab16_ror8(off2, v), ve = sxtab16(off2, v);
                const uint32_t k0 = read_u32(w); w += 4;
                a0 = smlad(sxtb16_ror8(k0), vo, a0); a0 = smlad(sxtb16(k0), ve, a0);
                const uint32_t k1 = read_u32(w1); w1 += 4;
                a1 = smlad(sxtb16_ror8(k1), vo, a1); a1 = smlad(sxtb16(k1), ve, a1);
            }
            cnt = k & 3;
            while (cnt-- > 0) { const int32_t v = *x++ + p->in_offset; a0 += v * *w++; a1 += v * *w1++; }
            a0 = requantize(a0, p->mult[r], p->shift[r]) + p->out_offset;
            a1 = requantize(a1, p->mult[r + 1], p->shift[r + 1]) + p->out_offset;
            dst[r] = (int8_t)clamp(a0, p->act_min, p->act_max);
            dst[r + 1] = (int8_t)clamp(a1, p->act_min, p->act_max);
            w = w1;
        }
        if (r < p->out_depth) {
            int32_t a = p->bias ? p->bias[r] : 0;
            for (int32_t i = 0; i < k; i++) a += (lhs[i] + p->in_offset) * w[i];
            a = requantize(a, p->mult[r], p->shift[r]) + p->out_offset;
            dst[r] = (int8_t)clamp(a, p->act_min, p->act_max);
        }
    }
}

/* ---- pooling: arm_avgpool_s8 / arm_max_pool_s8 ---- */

typedef struct {
    const int8_t *input; int8_t *output; int32_t *scratch;
    int32_t in_h, in_w, ch, out_h, out_w, f_h, f_w, stride_h, stride_w, pad_h, pad_w, act_min, act_max;
} pool_params;

void avgpool_s8(const pool_params *p) {
    const int32_t c = p->ch;
    int32_t *sum = p->scratch;
    int8_t *out = p->output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t by = oy * p->stride_h - p->pad_h;
        const int32_t y0 = by < 0 ? 0 : by, y1 = by + p->f_h > p->in_h ? p->in_h : by + p->f_h;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t bx = ox * p->stride_w - p->pad_w;
            const int32_t x0 = bx < 0 ? 0 : bx, x1 = bx + p->f_w > p->in_w ? p->in_w : bx + p->f_w;
            for (int32_t i = 0; i < c; i++) sum[i] = 0;
            for (int32_t y = y0; y < y1; y++)
                for (int32_t x = x0; x < x1; x++) {
                    const int8_t *in = p->input + (y * p->in_w + x) * c;
                    int32_t i = 0;
                    for (; i + 3 < c; i += 4) {         /* four channels per word */
                        const uint32_t v = read_u32(in + i);
                        sum[i] += (int8_t)v; sum[i + 1] += (int8_t)(v >> 8);
                        sum[i + 2] += (int8_t)(v >> 16); sum[i + 3] += (int8_t)(v >> 24);
                    }
                    for (; i < c; i++) sum[i] += in[i];
                }
            const int32_t count = (y1 - y0) * (x1 - x0);
            for (int32_t i = 0; i < c; i++) {
                int32_t s = sum[i];
                s = s > 0 ? (s + count / 2) / count : (s - count / 2) / count;
                out[i] = (int8_t)clamp(s, p->act_min, p->act_max);
            }
            out += c;
        }
    }
}

void maxpool_s8(const pool_params *p) {
    const int32_t c = p->ch;
    int8_t *out = p->output;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t by = oy * p->stride_h - p->pad_h;
        const int32_t y0 = by < 0 ? 0 : by, y1 = by + p->f_h > p->in_h ? p->in_h : by + p->f_h;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t bx = ox * p->stride_w - p->pad_w;
            const int32_t x0 = bx < 0 ? 0 : bx, x1 = bx + p->f_w > p->in_w ? p->in_w : bx + p->f_w;
            for (int32_t i = 0; i < c; i++) {
                int32_t m = -128;
                for (int32_t y = y0; y < y1; y++)
                    for (int32_t x = x0; x < x1; x++) {
                        const int32_t v = p->input[(y * p->in_w + x) * c + i];
                        m = v > m ? v : m;
                    }
                out[i] = (int8_t)clamp(m, p->act_min, p->act_max);
            }
            out += c;
        }
    }
}

/* ---- element-wise add: arm_elementwise_add_s8 ---- */

typedef struct {
    const int8_t *in1; const int8_t *in2; int8_t *output;
    int32_t size, in1_offset, in1_mult, in1_shift, in2_offset, in2_mult, in2_shift, left_shift,
            out_offset, out_mult, out_shift, act_min, act_max;
} add_params;

void add_s8(const add_params *p) {
    const uint32_t o1 = ((uint32_t)(uint16_t)p->in1_offset << 16) | (uint16_t)p->in1_offset;
    const uint32_t o2 = ((uint32_t)(uint16_t)p->in2_offset << 16) | (uint16_t)p->in2_offset;
    const int8_t *a = p->in1, *b = p->in2;
    int8_t *d = p->output;
    int32_t n = p->size >> 2;
    while (n-- > 0) {
        const uint32_t va = read_u32(a), vb = read_u32(b); a += 4; b += 4;
        const int32_t ae = sxtab16(o1, va), ao = sxtab16_ror8(o1, va);
        const int32_t be = sxtab16(o2, vb), bo = sxtab16_ror8(o2, vb);
        int32_t x[4] = {(int16_t)ae, (int16_t)ao, ae >> 16, ao >> 16};
        int32_t y[4] = {(int16_t)be, (int16_t)bo, be >> 16, bo >> 16};
        uint32_t packed = 0;
        for (int32_t j = 0; j < 4; j++) {
            const int32_t s1 = requantize(x[j] << p->left_shift, p->in1_mult, p->in1_shift);
            const int32_t s2 = requantize(y[j] << p->left_shift, p->in2_mult, p->in2_shift);
            int32_t r = requantize(s1 + s2, p->out_mult, p->out_shift) + p->out_offset;
            packed |= (uint32_t)(uint8_t)clamp(r, p->act_min, p->act_max) << (8 * j);
        }
        write_u32(d, packed); d += 4;
    }
    n = p->size & 3;
    while (n-- > 0) {
        const int32_t s1 = requantize((*a++ + p->in1_offset) << p->left_shift, p->in1_mult, p->in1_shift);
        const int32_t s2 = requantize((*b++ + p->in2_offset) << p->left_shift, p->in2_mult, p->in2_shift);
        const int32_t r = requantize(s1 + s2, p->out_mult, p->out_shift) + p->out_offset;
        *d++ = (int8_t)clamp(r, p->act_min, p->act_max);
    }
}

/* ---- softmax: arm_softmax_s8 / TFLite reference_ops::Softmax (int8 -> int8) ---- */

typedef struct {
    const int8_t *input; int8_t *output;
    int32_t rows, depth, mult, left_shift, diff_min;
} softmax_params;

static inline int32_t sat_left_shift(int32_t x, int32_t e) {   /* SaturatingRoundingMultiplyByPOT<e>, e > 0 */
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1);
    if (x > threshold) return 2147483647;
    if (x < -threshold) return INT32_MIN_;
    return (int32_t)((uint32_t)x << e);
}
static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668, one_third = 715827883;
    const int32_t x = wrap_add(a, 1 << 28);
    const int32_t x2 = doubling_high_mult(x, x);
    const int32_t x3 = doubling_high_mult(x2, x);
    const int32_t x4 = doubling_high_mult(x2, x2);
    const int32_t x4_over_4 = divide_by_pot(x4, 2);
    const int32_t poly = divide_by_pot(wrap_add(doubling_high_mult(wrap_add(x4_over_4, x3), one_third), x2), 1);
    return wrap_add(constant_term, doubling_high_mult(constant_term, wrap_add(x, poly)));
}

/* gemmlowp exp_on_negative_values for FixedPoint<int32, 5> -> Q0.31 */
static int32_t exp_on_negative(int32_t a) {
    static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24, mask = quarter - 1;
    const int32_t amq = wrap_sub(a & mask, quarter);
    int32_t result = exp_quarter(sat_left_shift(amq, 5));
    const int32_t remainder = wrap_sub(amq, a);
    for (int32_t i = 0; i < 7; i++)
        if (remainder & (1 << (24 + i))) result = doubling_high_mult(result, mults[i]);
    return a == 0 ? 2147483647 : result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in, Q0.31 out */
static int32_t one_over_one_plus_x(int32_t a) {
    const int64_t sum = (int64_t)a + 2147483647;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = wrap_add(1515870810, doubling_high_mult(half_den, -1010580540));   /* Q2.29 */
    for (int32_t i = 0; i < 3; i++) {
        const int32_t hdx = doubling_high_mult(half_den, x);
        const int32_t one_minus = wrap_sub(1 << 29, hdx);
        x = wrap_add(x, sat_left_shift(doubling_high_mult(x, one_minus), 2));
    }
    return sat_left_shift(x, 1);
}

void softmax_s8(const softmax_params *p) {
    for (int32_t row = 0; row < p->rows; row++) {
        const int8_t *in = p->input + row * p->depth;
        int8_t *out = p->output + row * p->depth;
        int32_t max = -128;
        for (int32_t c = 0; c < p->depth; c++) max = in[c] > max ? in[c] : max;
        int32_t sum = 0;   /* Q12.19 */
        for (int32_t c = 0; c < p->depth; c++) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t scaled = doubling_high_mult(diff * (1 << p->left_shift), p->mult);
                sum = wrap_add(sum, divide_by_pot(exp_on_negative(scaled), 12));
            }
        }
        const int32_t headroom = __builtin_clz((uint32_t)sum);
        const int32_t bits_over_unit = 12 - headroom;
        const int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
        const int32_t scale = one_over_one_plus_x(shifted_minus_one);
        for (int32_t c = 0; c < p->depth; c++) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t scaled = doubling_high_mult(diff * (1 << p->left_shift), p->mult);
                const int32_t e = exp_on_negative(scaled);
                const int32_t unsat = divide_by_pot(doubling_high_mult(scale, e), bits_over_unit + 31 - 8);
                out[c] = (int8_t)clamp(unsat - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}

/* ---- reshape: TFLM copies the tensor when input and output buffers differ ---- */

typedef struct { const int8_t *input; int8_t *output; int32_t bytes; } copy_params;

void copy_s8(const copy_params *p) {
    const int8_t *s = p->input; int8_t *d = p->output;
    int32_t n = p->bytes >> 2;
    while (n-- > 0) { write_u32(d, read_u32(s)); s += 4; d += 4; }
    n = p->bytes & 3;
    while (n-- > 0) *d++ = *s++;
}
