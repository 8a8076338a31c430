/* edgesim float32 kernels: TFLM's float reference kernels, which TFLM runs for float32
 * operators on every Cortex-M build (the CMSIS-NN kernels take int8/int16 only).
 *
 * Each is a port of tensorflow/lite/kernels/internal/reference/ with the same loop order and
 * the same float operations in the same order, so results are bit-identical (built with
 * -ffp-contract=off: no fused multiply-add):
 *   conv_f32            <- conv.h Conv (float), one group
 *   depthwise_f32       <- depthwiseconv_float.h DepthwiseConv
 *   fully_connected_f32 <- fully_connected.h FullyConnected (float)
 *   avgpool_f32 / maxpool_f32 <- pooling.h AveragePool / MaxPool (float)
 *   add_f32             <- add.h Add (float, same shapes)
 *   softmax_f32         <- softmax.h Softmax (float), std::exp as musl's expf (below)
 * RESHAPE stays copy_s8 (a memcpy whatever the type).
 * ActivationFunctionWithMinMax is std::min(std::max(x, lo), hi) (common.h); std::max(a, b)
 * is (a < b) ? b : a and std::min(a, b) is (b < a) ? b : a, which `act` spells out.
 *
 * Argument blocks: one struct of 32-bit words per kernel (float words hold IEEE-754
 * single-precision bits), layout in kernels/params_f32.py.
 */
#include <stdint.h>

static inline float act(float x, float lo, float hi) {
    const float m = x < lo ? lo : x;
    return hi < m ? hi : m;
}

/* ---- convolution ---- */

typedef struct {
    const float *input; const float *filter; const float *bias; float *output;
    int32_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t dil_h, dil_w, depth_mult;
    float act_min, act_max;
} conv_f32_params;

void conv_f32(const conv_f32_params *p) {
    const int32_t in_c = p->in_c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                float total = 0.f;
                for (int32_t fy = 0; fy < p->k_h; fy++) {
                    const int32_t iy = iy0 + p->dil_h * fy;
                    for (int32_t fx = 0; fx < p->k_w; fx++) {
                        const int32_t ix = ix0 + p->dil_w * fx;
                        if (!(ix >= 0 && ix < p->in_w && iy >= 0 && iy < p->in_h)) continue;
                        const float *x = p->input + (iy * p->in_w + ix) * in_c;
                        const float *w = p->filter + ((oc * p->k_h + fy) * p->k_w + fx) * in_c;
                        for (int32_t ic = 0; ic < in_c; ic++) total += x[ic] * w[ic];
                    }
                }
                const float bias = p->bias ? p->bias[oc] : 0.0f;
                p->output[(oy * p->out_w + ox) * p->out_c + oc] =
                    act(total + bias, p->act_min, p->act_max);
            }
        }
    }
}

void depthwise_f32(const conv_f32_params *p) {
    const int32_t dm = p->depth_mult;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t ic = 0; ic < p->in_c; ic++) {
                for (int32_t m = 0; m < dm; m++) {
                    const int32_t oc = m + ic * dm;
                    const int32_t ix0 = ox * p->stride_w - p->pad_w;
                    const int32_t iy0 = oy * p->stride_h - p->pad_h;
                    float total = 0.f;
                    for (int32_t fy = 0; fy < p->k_h; fy++) {
                        for (int32_t fx = 0; fx < p->k_w; fx++) {
                            const int32_t ix = ix0 + p->dil_w * fx;
                            const int32_t iy = iy0 + p->dil_h * fy;
                            if (ix >= 0 && ix < p->in_w && iy >= 0 && iy < p->in_h) {
                                total += p->input[(iy * p->in_w + ix) * p->in_c + ic]
                                         * p->filter[(fy * p->k_w + fx) * p->out_c + oc];
                            }
                        }
                    }
                    const float bias = p->bias ? p->bias[oc] : 0.0f;
                    p->output[(oy * p->out_w + ox) * p->out_c + oc] =
                        act(total + bias, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* ---- fully connected ---- */

typedef struct {
    const float *input; const float *weights; const float *bias; float *output;
    int32_t batches, depth, units;
    float act_min, act_max;
} fc_f32_params;

void fully_connected_f32(const fc_f32_params *p) {
    const int32_t depth = p->depth;
    for (int32_t b = 0; b < p->batches; b++) {
        const float *x = p->input + b * depth;
        for (int32_t u = 0; u < p->units; u++) {
            const float *w = p->weights + u * depth;
            float total = 0.f;
            for (int32_t d = 0; d < depth; d++) total += x[d] * w[d];
            const float bias = p->bias ? p->bias[u] : 0.0f;
            p->output[u + p->units * b] = act(total + bias, p->act_min, p->act_max);
        }
    }
}

/* ---- pooling ---- */

typedef struct {
    const float *input; float *output;
    int32_t in_h, in_w, chans, out_h, out_w, f_h, f_w, stride_h, stride_w, pad_h, pad_w;
    float act_min, act_max;
} pool_f32_params;

static inline int32_t max_i(int32_t a, int32_t b) { return a < b ? b : a; }
static inline int32_t min_i(int32_t a, int32_t b) { return b < a ? b : a; }

void avgpool_f32(const pool_f32_params *p) {
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t c = 0; c < p->chans; c++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t fx0 = max_i(0, -ix0), fx1 = min_i(p->f_w, p->in_w - ix0);
                const int32_t fy0 = max_i(0, -iy0), fy1 = min_i(p->f_h, p->in_h - iy0);
                float total = 0.f;
                float count = 0;
                for (int32_t fy = fy0; fy < fy1; fy++) {
                    for (int32_t fx = fx0; fx < fx1; fx++) {
                        total += p->input[((iy0 + fy) * p->in_w + ix0 + fx) * p->chans + c];
                        count++;
                    }
                }
                if (count == 0) return;    /* TFLM's AveragePool returns false: no output */
                p->output[(oy * p->out_w + ox) * p->chans + c] =
                    act(total / count, p->act_min, p->act_max);
            }
        }
    }
}

void maxpool_f32(const pool_f32_params *p) {
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            for (int32_t c = 0; c < p->chans; c++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t fx0 = max_i(0, -ix0), fx1 = min_i(p->f_w, p->in_w - ix0);
                const int32_t fy0 = max_i(0, -iy0), fy1 = min_i(p->f_h, p->in_h - iy0);
                float max = -3.40282347e+38f;          /* numeric_limits<float>::lowest() */
                for (int32_t fy = fy0; fy < fy1; fy++) {
                    for (int32_t fx = fx0; fx < fx1; fx++) {
                        const float v = p->input[((iy0 + fy) * p->in_w + ix0 + fx) * p->chans + c];
                        max = max < v ? v : max;
                    }
                }
                p->output[(oy * p->out_w + ox) * p->chans + c] = act(max, p->act_min, p->act_max);
            }
        }
    }
}

/* ---- element-wise ---- */

typedef struct {
    const float *input1; const float *input2; float *output;
    int32_t size;
    float act_min, act_max;
} add_f32_params;

void add_f32(const add_f32_params *p) {
    for (int32_t i = 0; i < p->size; i++)
        p->output[i] = act(p->input1[i] + p->input2[i], p->act_min, p->act_max);
}

/* ---- softmax ---- */

/* expf of musl libc (src/math/expf.c and exp2f_data.c, Copyright (c) 2017-2018 Arm Limited,
 * MIT licence; the same Arm optimized-routines code as glibc's and newlib's expf): exp(x) =
 * 2^(k/N) * 2^(r/N), a table of 2^(i/32) and a cubic, evaluated in double precision (on a
 * single-precision FPU through the run-time library's soft-double calls, as on the part). */
#define EXP2F_N 32
static const uint64_t exp2f_tab[EXP2F_N] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

static inline uint32_t asuint(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }
static inline uint64_t asuint64(double f) { uint64_t u; __builtin_memcpy(&u, &f, 8); return u; }
static inline double asdouble(uint64_t u) { double f; __builtin_memcpy(&f, &u, 8); return f; }

static float expf_musl(float x) {
    const double invln2n = 0x1.71547652b82fep+0 * EXP2F_N, shift = 0x1.8p+52;
    const double c0 = 0x1.c6af84b912394p-5 / EXP2F_N / EXP2F_N / EXP2F_N;
    const double c1 = 0x1.ebfce50fac4f3p-3 / EXP2F_N / EXP2F_N;
    const double c2 = 0x1.62e42ff0c52d6p-1 / EXP2F_N;
    const double xd = (double)x;
    const uint32_t abstop = (asuint(x) >> 20) & 0x7ff;
    if (__builtin_expect(abstop >= (asuint(88.0f) >> 20), 0)) {
        if (asuint(x) == 0xff800000u) return 0.0f;                 /* -inf */
        if (abstop >= (0x7f800000u >> 20)) return x + x;           /* inf or nan */
        if (x > 0x1.62e42ep6f) return 0x1p97f * 0x1p97f;           /* overflow: inf */
        if (x < -0x1.9fe368p6f) return 0x1p-95f * 0x1p-95f;        /* underflow: 0 */
    }
    double z = invln2n * xd;
    double kd = z + shift;
    const uint64_t ki = asuint64(kd);
    kd -= shift;
    const double r = z - kd;
    const uint64_t t = exp2f_tab[ki % EXP2F_N] + (ki << (52 - 5));
    const double s = asdouble(t);
    z = c0 * r + c1;
    const double r2 = r * r;
    double y = c2 * r + 1;
    y = z * r2 + y;
    y = y * s;
    return (float)y;
}

typedef struct {
    const float *input; float *output;
    int32_t rows, depth;
    float beta;
} softmax_f32_params;

void softmax_f32(const softmax_f32_params *p) {
    const int32_t depth = p->depth;
    for (int32_t i = 0; i < p->rows; i++) {
        const float *x = p->input + i * depth;
        float *y = p->output + i * depth;
        float max = -3.40282347e+38f;
        for (int32_t c = 0; c < depth; c++) max = max < x[c] ? x[c] : max;
        float sum = 0.f;
        for (int32_t c = 0; c < depth; c++) {
            const float e = expf_musl((x[c] - max) * p->beta);
            y[c] = e;
            sum += e;
        }
        for (int32_t c = 0; c < depth; c++) y[c] = y[c] / sum;
    }
}
