/* What TFLM does per operator outside the kernel's loops, ported to C for the emulated core.
 *
 * Ported (tensorflow/tflite-micro, CMSIS-NN 6):
 *   tflm_invoke_node   <- MicroInterpreterGraph::InvokeSubgraph (micro/micro_interpreter_graph.cc):
 *                         one pass of the node loop (node and registration lookup, the profiler
 *                         scope with no profiler attached, registration->invoke, status check)
 *   eval_*             <- the Eval functions of micro/kernels/cmsis_nn/{conv,depthwise_conv,
 *                         fully_connected,pooling,add,softmax}.cc and micro/kernels/reshape_common.cc
 *                         (EvalReshapeReference), with what they call before the CMSIS-NN kernel:
 *                         tflite::micro::GetEvalInput/GetEvalOutput (micro/kernels/kernel_util.cc)
 *                         through TfLiteContext::GetEvalTensor (MicroContextGetEvalTensor ->
 *                         MicroInterpreterContext::GetEvalTensor), GetTensorShape building a
 *                         RuntimeShape (kernels/internal/runtime_shape.h), MatchingDim,
 *                         FlatSizeSkipDim, ProcessBroadcastShapes' equal-shape path, the
 *                         cmsis_nn_* parameter structs, TfLiteContext::GetScratchBuffer, and
 *                         CMSIS-NN's arm_convolve_wrapper_s8 / arm_depthwise_conv_wrapper_s8
 *                         kernel selection.
 * TFLITE_DCHECKs compile out of release builds and are left out; TF_LITE_ENSUREs are kept.
 * Structs keep TFLM's member order for the members read here (32-bit pointers); members
 * never read are left out, which moves offsets but not the instructions.
 *
 * The CMSIS-NN kernels themselves are weak aliases of one stub (cmsis_nn_stub), so a run
 * of tflm_invoke_node costs the dispatch plus that stub, whose own record the host subtracts
 * (firmware_sim/kernels/dispatch.py). The host lays out the structs (TfLiteEvalTensor per
 * tensor, NodeAndRegistration per operator, OpData, builtin data) as MicroAllocator does:
 * node inputs/outputs and tensor dims point into flash (TFLM points them into the
 * flatbuffer), the rest sits in the arena tail.
 */
#include <stddef.h>
#include <stdint.h>

enum { kTfLiteOk = 0, kTfLiteError = 1 };
enum { kTfLiteFloat32 = 1, kTfLiteInt32 = 2, kTfLiteInt8 = 9 };   /* TfLiteType (c/c_api_types.h) */
enum { kTfLiteOptionalTensor = -1 };
enum { kMaxSmallSize = 6 };                           /* RuntimeShape::kMaxSmallSize */

/* ---- c/common.h, micro/micro_common.h, micro/micro_allocator.h ---- */
typedef struct { int size; int data[]; } TfLiteIntArray;
typedef struct { void *data; TfLiteIntArray *dims; int type; } TfLiteEvalTensor;
typedef struct {
    TfLiteIntArray *inputs, *outputs, *intermediates;
    void *user_data, *builtin_data;
    const void *custom_initial_data;
    int custom_initial_data_size;
} TfLiteNode;
struct TfLiteContext;
typedef struct {
    void *(*init)(struct TfLiteContext *, const char *, size_t);
    void (*free)(struct TfLiteContext *, void *);
    int (*prepare)(struct TfLiteContext *, TfLiteNode *);
    int (*invoke)(struct TfLiteContext *, TfLiteNode *);
    void (*reset)(struct TfLiteContext *, void *);
    int32_t builtin_code;
    const char *custom_name;
} TFLMRegistration;
typedef struct { TfLiteNode node; const TFLMRegistration *registration; } NodeAndRegistration;
typedef struct { NodeAndRegistration *node_and_registrations; TfLiteEvalTensor *tensors; } SubgraphAllocations;
typedef struct { void *data; } ScratchBufferHandle;

/* MicroInterpreterGraph and MicroInterpreterContext: C++ objects, their virtual calls as
 * calls through a table of function pointers. */
struct graph;
typedef struct { int (*current_subgraph_index)(const struct graph *); } graph_vtable;
typedef struct graph {
    const graph_vtable *vt;
    struct TfLiteContext *context;
    SubgraphAllocations *subgraph_allocations;
    int current_subgraph_index;
    uint32_t current_operator_index;
    uint32_t operators_size;                /* NumSubgraphOperators(model_, subgraph_idx) */
    void *profiler;
} graph;
struct micro_context;
typedef struct {
    TfLiteEvalTensor *(*get_eval_tensor)(struct micro_context *, int);
    void *(*get_scratch_buffer)(struct micro_context *, int);
} micro_context_vtable;
typedef struct micro_context {
    const micro_context_vtable *vt;
    graph *graph;
    ScratchBufferHandle *scratch_buffer_handles;
} micro_context;
typedef struct TfLiteContext {
    void *(*get_scratch_buffer)(struct TfLiteContext *, int);
    TfLiteEvalTensor *(*get_eval_tensor)(const struct TfLiteContext *, int);
    void *impl_;
} TfLiteContext;

/* ---- CMSIS-NN Include/arm_nn_types.h ---- */
typedef struct { int32_t n, h, w, c; } cmsis_nn_dims;
typedef struct { int32_t w, h; } cmsis_nn_tile;
typedef struct { int32_t min, max; } cmsis_nn_activation;
typedef struct { void *buf; int32_t size; } cmsis_nn_context;
typedef struct { int32_t input_offset, output_offset; cmsis_nn_tile stride, padding, dilation;
                 cmsis_nn_activation activation; } cmsis_nn_conv_params;
typedef struct { int32_t input_offset, output_offset, ch_mult; cmsis_nn_tile stride, padding,
                 dilation; cmsis_nn_activation activation; } cmsis_nn_dw_conv_params;
typedef struct { int32_t input_offset, filter_offset, output_offset;
                 cmsis_nn_activation activation; } cmsis_nn_fc_params;
typedef struct { cmsis_nn_tile stride, padding; cmsis_nn_activation activation; } cmsis_nn_pool_params;
typedef struct { int32_t *multiplier, *shift; } cmsis_nn_per_channel_quant_params;
typedef struct { int32_t multiplier, shift; } cmsis_nn_per_tensor_quant_params;

#define CONV_ARGS const cmsis_nn_context *, const cmsis_nn_conv_params *, \
    const cmsis_nn_per_channel_quant_params *, const cmsis_nn_dims *, const int8_t *, \
    const cmsis_nn_dims *, const int8_t *, const cmsis_nn_dims *, const int32_t *, \
    const cmsis_nn_dims *, int8_t *
#define DW_ARGS const cmsis_nn_context *, const cmsis_nn_dw_conv_params *, \
    const cmsis_nn_per_channel_quant_params *, const cmsis_nn_dims *, const int8_t *, \
    const cmsis_nn_dims *, const int8_t *, const cmsis_nn_dims *, const int32_t *, \
    const cmsis_nn_dims *, int8_t *

/* The kernels: one stub behind every name (weak, so no call is inlined or folded). */
int cmsis_nn_stub(void) { return 0; }
#define STUB __attribute__((weak, alias("cmsis_nn_stub")))
int arm_convolve_1x1_s8_fast(CONV_ARGS) STUB;
int arm_convolve_1x1_s8(CONV_ARGS) STUB;
int arm_convolve_1_x_n_s8(CONV_ARGS) STUB;
int arm_convolve_s8(CONV_ARGS) STUB;
int arm_depthwise_conv_3x3_s8(DW_ARGS) STUB;
int arm_depthwise_conv_s8_opt(DW_ARGS) STUB;
int arm_depthwise_conv_s8(DW_ARGS) STUB;
int arm_fully_connected_s8(const cmsis_nn_context *, const cmsis_nn_fc_params *,
                           const cmsis_nn_per_tensor_quant_params *, const cmsis_nn_dims *,
                           const int8_t *, const cmsis_nn_dims *, const int8_t *,
                           const cmsis_nn_dims *, const int32_t *, const cmsis_nn_dims *,
                           int8_t *) STUB;
int arm_avgpool_s8(const cmsis_nn_context *, const cmsis_nn_pool_params *, const cmsis_nn_dims *,
                   const int8_t *, const cmsis_nn_dims *, const cmsis_nn_dims *, int8_t *) STUB;
int arm_max_pool_s8(const cmsis_nn_context *, const cmsis_nn_pool_params *, const cmsis_nn_dims *,
                    const int8_t *, const cmsis_nn_dims *, const cmsis_nn_dims *, int8_t *) STUB;
int arm_elementwise_add_s8(const int8_t *, const int8_t *, int32_t, int32_t, int32_t, int32_t,
                           int32_t, int32_t, int32_t, int8_t *, int32_t, int32_t, int32_t,
                           int32_t, int32_t, int32_t) STUB;
int arm_softmax_s8(const int8_t *, int32_t, int32_t, int32_t, int32_t, int32_t, int8_t *) STUB;
void *memcpy_stub(void *, const void *, size_t) STUB;

/* ---- MicroContext (micro/micro_context.cc, micro/micro_interpreter_context.cc) ---- */
static TfLiteEvalTensor *interpreter_get_eval_tensor(micro_context *mc, int tensor_idx) {
    graph *g = mc->graph;
    return &g->subgraph_allocations[g->vt->current_subgraph_index(g)].tensors[tensor_idx];
}
static void *interpreter_get_scratch_buffer(micro_context *mc, int buffer_idx) {
    ScratchBufferHandle *handle = mc->scratch_buffer_handles + buffer_idx;
    return handle->data;
}
static int graph_current_subgraph_index(const graph *g) { return g->current_subgraph_index; }
static TfLiteEvalTensor *MicroContextGetEvalTensor(const TfLiteContext *context, int tensor_idx) {
    micro_context *mc = (micro_context *)context->impl_;
    return mc->vt->get_eval_tensor(mc, tensor_idx);
}
static void *MicroContextGetScratchBuffer(TfLiteContext *context, int buffer_idx) {
    micro_context *mc = (micro_context *)context->impl_;
    return mc->vt->get_scratch_buffer(mc, buffer_idx);
}
/* The vtables: rodata, in flash as in the firmware. */
static const micro_context_vtable tflm_micro_context_vtable = {interpreter_get_eval_tensor,
                                                        interpreter_get_scratch_buffer};
static const graph_vtable tflm_graph_vtable = {graph_current_subgraph_index};

/* ---- micro/kernels/kernel_util.cc ---- */
static int validate_tensor_indexing(int index, int max_size, const int *tensor_indices) {
    if (index >= 0 && index < max_size) {
        const int tensor_index = tensor_indices[index];
        if (tensor_index != kTfLiteOptionalTensor) return tensor_index;
    }
    return -1;
}
static const TfLiteEvalTensor *get_eval_input(const TfLiteContext *context, const TfLiteNode *node, int index) {
    const int tensor_index = validate_tensor_indexing(index, node->inputs->size, node->inputs->data);
    if (tensor_index < 0) return NULL;
    return context->get_eval_tensor(context, node->inputs->data[index]);
}
static TfLiteEvalTensor *get_eval_output(const TfLiteContext *context, const TfLiteNode *node, int index) {
    return context->get_eval_tensor(context, node->outputs->data[index]);
}
static inline void *tensor_data(const TfLiteEvalTensor *t) { return t != NULL ? t->data : NULL; }

/* ---- RuntimeShape (kernels/internal/runtime_shape.h) and helpers (types.h) ---- */
typedef struct { int32_t size; int32_t dims[kMaxSmallSize]; } RuntimeShape;
static void get_tensor_shape(const TfLiteEvalTensor *t, RuntimeShape *s) {
    if (t == NULL) { s->size = 0; return; }
    const TfLiteIntArray *dims = t->dims;
    const int n = dims->size;
    s->size = n;                                  /* ReplaceWith: memcpy of the dims */
    for (int i = 0; i < n; i++) s->dims[i] = dims->data[i];
}
static int flat_size_skip_dim(const RuntimeShape *s, int skip) {
    int flat = 1;
    for (int i = 0; i < s->size; ++i) flat *= (i == skip) ? 1 : s->dims[i];
    return flat;
}
static int flat_size(const RuntimeShape *s) {
    int flat = 1;
    for (int i = 0; i < s->size; ++i) flat *= s->dims[i];
    return flat;
}
static int shapes_equal(const RuntimeShape *a, const RuntimeShape *b) {
    if (a->size != b->size) return 0;
    for (int i = 0; i < a->size; i++) if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}
/* RuntimeShape::ExtendedShape: leading 1s up to n dimensions. */
static void extended_shape(int n, const RuntimeShape *s, RuntimeShape *out) {
    const int pad = n - s->size;
    out->size = n;
    for (int i = 0; i < pad; i++) out->dims[i] = 1;
    for (int i = 0; i < s->size; i++) out->dims[pad + i] = s->dims[i];
}

/* ---- OpData and builtin data (micro/kernels headers, c/builtin_op_data.h) ---- */
typedef struct { int width, height, width_offset, height_offset; } TfLitePaddingValues;
typedef struct {
    TfLitePaddingValues padding;
    int32_t input_zero_point, filter_zero_point, output_zero_point, output_multiplier;
    int output_shift;
    int32_t *per_channel_output_multiplier, *per_channel_output_shift;
    int32_t output_activation_min, output_activation_max;
} OpDataConv;
typedef struct { OpDataConv reference_op_data; int buffer_idx; } ConvOpData;
typedef struct { int padding, stride_width, stride_height, activation, dilation_width_factor,
                 dilation_height_factor; } TfLiteConvParams;
typedef struct { int padding, stride_width, stride_height, depth_multiplier, activation,
                 dilation_width_factor, dilation_height_factor; } TfLiteDepthwiseConvParams;
typedef struct {
    int32_t output_multiplier; int output_shift;
    int32_t output_activation_min, output_activation_max;
    int32_t input_zero_point, filter_zero_point, output_zero_point;
} OpDataFullyConnected;
typedef struct { OpDataFullyConnected reference_op_data; int buffer_idx; } FcOpData;
typedef struct { TfLitePaddingValues padding; int32_t activation_min, activation_max;
                 float activation_min_f32, activation_max_f32; } OpDataPooling;
typedef struct { OpDataPooling reference_op_data; int buffer_idx; } PoolOpData;
typedef struct { int padding, stride_width, stride_height, filter_width, filter_height,
                 activation; } TfLitePoolParams;
typedef struct {
    int requires_broadcast;
    int32_t output_activation_min, output_activation_max;
    int32_t left_shift, input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t output_offset, output_multiplier, output_shift;
} AddOpData;
typedef struct {
    double beta;
    int32_t input_multiplier, input_left_shift, reverse_scaling_divisor, reverse_scaling_right_shift;
    int diff_min;
    int32_t zero_point; float scale; float *table;
    int16_t *exp_lut, *one_over_one_plus_x_lut;
    uint8_t *uint8_table1, *uint8_table2;
} SoftmaxParams;
typedef struct { SoftmaxParams softmax_params; int32_t num_channels; } CMSISNNSoftmaxParams;

/* ---- cmsis_nn/conv.cc: Eval -> EvalQuantizedPerChannel; arm_convolve_wrapper_s8 ---- */
static int convolve_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_conv_params *cp,
                               const cmsis_nn_per_channel_quant_params *qp, const cmsis_nn_dims *id,
                               const int8_t *in, const cmsis_nn_dims *fd, const int8_t *f,
                               const cmsis_nn_dims *bd, const int32_t *b, const cmsis_nn_dims *od,
                               int8_t *out) {
    if (cp->padding.w == 0 && cp->padding.h == 0 && fd->w == 1 && fd->h == 1 &&
        cp->dilation.w == 1 && cp->dilation.h == 1) {
        if (cp->stride.w == 1 && cp->stride.h == 1)
            return arm_convolve_1x1_s8_fast(ctx, cp, qp, id, in, fd, f, bd, b, od, out);
        return arm_convolve_1x1_s8(ctx, cp, qp, id, in, fd, f, bd, b, od, out);
    }
    if (id->h == 1 && cp->dilation.w == 1 && fd->h == 1 && (cp->stride.w * id->c) % 4 == 0 &&
        id->c == fd->c)
        return arm_convolve_1_x_n_s8(ctx, cp, qp, id, in, fd, f, bd, b, od, out);
    return arm_convolve_s8(ctx, cp, qp, id, in, fd, f, bd, b, od, out);
}

static int eval_conv(TfLiteContext *context, TfLiteNode *node) {
    const TfLiteEvalTensor *input = get_eval_input(context, node, 0);
    const TfLiteEvalTensor *filter = get_eval_input(context, node, 1);
    const TfLiteEvalTensor *bias = node->inputs->size == 3 ? get_eval_input(context, node, 2) : NULL;
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    const TfLiteConvParams *params = (const TfLiteConvParams *)node->builtin_data;
    const ConvOpData *data = (const ConvOpData *)node->user_data;
    if (input->type != kTfLiteInt8 || filter->type != kTfLiteInt8) return kTfLiteError;
    cmsis_nn_conv_params conv_params;
    conv_params.dilation.h = params->dilation_height_factor;
    conv_params.dilation.w = params->dilation_width_factor;
    conv_params.input_offset = -data->reference_op_data.input_zero_point;
    conv_params.output_offset = data->reference_op_data.output_zero_point;
    conv_params.stride.h = params->stride_height;
    conv_params.stride.w = params->stride_width;
    conv_params.padding.h = data->reference_op_data.padding.height;
    conv_params.padding.w = data->reference_op_data.padding.width;
    conv_params.activation.min = data->reference_op_data.output_activation_min;
    conv_params.activation.max = data->reference_op_data.output_activation_max;
    cmsis_nn_per_channel_quant_params quant_params;
    quant_params.multiplier = data->reference_op_data.per_channel_output_multiplier;
    quant_params.shift = data->reference_op_data.per_channel_output_shift;
    RuntimeShape filter_shape, input_shape, output_shape, bias_shape;
    get_tensor_shape(filter, &filter_shape);
    get_tensor_shape(input, &input_shape);
    get_tensor_shape(output, &output_shape);
    get_tensor_shape(bias, &bias_shape);
    const int batch_size = input_shape.dims[0];               /* MatchingDim */
    const int input_depth = input_shape.dims[3];
    const int output_depth = filter_shape.dims[0];
    cmsis_nn_dims input_dims = {batch_size, input_shape.dims[1], input_shape.dims[2], input_depth};
    cmsis_nn_dims filter_dims = {output_depth, filter_shape.dims[1], filter_shape.dims[2], input_depth};
    cmsis_nn_dims bias_dims = {1, 1, 1, output_depth};
    cmsis_nn_dims output_dims = {batch_size, output_shape.dims[1], output_shape.dims[2], output_depth};
    cmsis_nn_context ctx = {NULL, 0};
    if (data->buffer_idx > -1) ctx.buf = context->get_scratch_buffer(context, data->buffer_idx);
    return convolve_wrapper_s8(&ctx, &conv_params, &quant_params, &input_dims, tensor_data(input),
                               &filter_dims, tensor_data(filter), &bias_dims, tensor_data(bias),
                               &output_dims, tensor_data(output));
}

/* ---- cmsis_nn/depthwise_conv.cc: Eval -> EvalQuantizedPerChannel; arm_depthwise_conv_wrapper_s8 ---- */
static int eval_depthwise_conv(TfLiteContext *context, TfLiteNode *node) {
    const TfLiteDepthwiseConvParams *params = (const TfLiteDepthwiseConvParams *)node->builtin_data;
    const ConvOpData *data = (const ConvOpData *)node->user_data;
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    const TfLiteEvalTensor *input = get_eval_input(context, node, 0);
    const TfLiteEvalTensor *filter = get_eval_input(context, node, 1);
    const TfLiteEvalTensor *bias = node->inputs->size == 3 ? get_eval_input(context, node, 2) : NULL;
    if (input->type != kTfLiteInt8 || filter->type != kTfLiteInt8) return kTfLiteError;
    cmsis_nn_dw_conv_params dw;
    dw.dilation.h = params->dilation_height_factor;
    dw.dilation.w = params->dilation_width_factor;
    dw.input_offset = -data->reference_op_data.input_zero_point;
    dw.output_offset = data->reference_op_data.output_zero_point;
    dw.stride.h = params->stride_height;
    dw.stride.w = params->stride_width;
    dw.padding.h = data->reference_op_data.padding.height;
    dw.padding.w = data->reference_op_data.padding.width;
    dw.activation.min = data->reference_op_data.output_activation_min;
    dw.activation.max = data->reference_op_data.output_activation_max;
    dw.ch_mult = params->depth_multiplier;
    cmsis_nn_per_channel_quant_params quant_params;
    quant_params.multiplier = data->reference_op_data.per_channel_output_multiplier;
    quant_params.shift = data->reference_op_data.per_channel_output_shift;
    RuntimeShape filter_shape, input_shape, output_shape, bias_shape;
    get_tensor_shape(filter, &filter_shape);
    get_tensor_shape(input, &input_shape);
    get_tensor_shape(output, &output_shape);
    get_tensor_shape(bias, &bias_shape);
    const int batch_size = input_shape.dims[0];
    const int output_depth = filter_shape.dims[3];             /* MatchingDim */
    cmsis_nn_dims input_dims = {batch_size, input_shape.dims[1], input_shape.dims[2], input_shape.dims[3]};
    cmsis_nn_dims filter_dims = {filter_shape.dims[0], filter_shape.dims[1], filter_shape.dims[2], output_depth};
    cmsis_nn_dims bias_dims = {1, 1, 1, output_depth};
    cmsis_nn_dims output_dims = {batch_size, output_shape.dims[1], output_shape.dims[2], output_depth};
    cmsis_nn_context ctx = {NULL, 0};
    if (data->buffer_idx > -1) ctx.buf = context->get_scratch_buffer(context, data->buffer_idx);
    const int8_t *in = tensor_data(input), *f = tensor_data(filter);
    const int32_t *b = tensor_data(bias);
    int8_t *out = tensor_data(output);
    if (dw.ch_mult == 1 && input_dims.n == 1 && dw.dilation.w == 1 && dw.dilation.h == 1) {
        if (filter_dims.w == 3 && filter_dims.h == 3 && dw.padding.h <= 1 && dw.padding.w <= 1)
            return arm_depthwise_conv_3x3_s8(&ctx, &dw, &quant_params, &input_dims, in, &filter_dims,
                                             f, &bias_dims, b, &output_dims, out);
        return arm_depthwise_conv_s8_opt(&ctx, &dw, &quant_params, &input_dims, in, &filter_dims, f,
                                         &bias_dims, b, &output_dims, out);
    }
    return arm_depthwise_conv_s8(&ctx, &dw, &quant_params, &input_dims, in, &filter_dims, f,
                                 &bias_dims, b, &output_dims, out);
}

/* ---- cmsis_nn/fully_connected.cc: Eval -> EvalQuantizedInt8 (+ PopulateCommonParams) ---- */
static int eval_fully_connected(TfLiteContext *context, TfLiteNode *node) {
    const TfLiteEvalTensor *input = get_eval_input(context, node, 0);
    const TfLiteEvalTensor *filter = get_eval_input(context, node, 1);
    const TfLiteEvalTensor *bias = get_eval_input(context, node, 2);
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    const FcOpData *data = (const FcOpData *)node->user_data;
    if (input->type != kTfLiteInt8 || filter->type != kTfLiteInt8) return kTfLiteError;
    RuntimeShape output_shape, filter_shape;
    get_tensor_shape(output, &output_shape);
    const int output_dim_count = output_shape.size;
    cmsis_nn_per_tensor_quant_params quant_params;
    quant_params.multiplier = data->reference_op_data.output_multiplier;
    quant_params.shift = data->reference_op_data.output_shift;
    get_tensor_shape(filter, &filter_shape);
    const int filter_dim_count = filter_shape.size;
    const int batches = flat_size_skip_dim(&output_shape, output_dim_count - 1);
    const int output_depth = output_shape.dims[output_dim_count - 1];
    const int accum_depth = filter_shape.dims[filter_dim_count - 1];
    cmsis_nn_dims input_dims = {batches, 1, 1, accum_depth};
    cmsis_nn_dims filter_dims = {accum_depth, 1, 1, output_depth};
    cmsis_nn_dims bias_dims = {1, 1, 1, output_depth};
    cmsis_nn_dims output_dims = {batches, 1, 1, output_depth};
    cmsis_nn_context ctx = {NULL, 0};
    if (data->buffer_idx > -1) ctx.buf = context->get_scratch_buffer(context, data->buffer_idx);
    cmsis_nn_fc_params fc_params;
    fc_params.input_offset = -data->reference_op_data.input_zero_point;
    fc_params.output_offset = data->reference_op_data.output_zero_point;
    fc_params.filter_offset = 0;
    fc_params.activation.min = data->reference_op_data.output_activation_min;
    fc_params.activation.max = data->reference_op_data.output_activation_max;
    return arm_fully_connected_s8(&ctx, &fc_params, &quant_params, &input_dims, tensor_data(input),
                                  &filter_dims, tensor_data(filter), &bias_dims, tensor_data(bias),
                                  &output_dims, tensor_data(output));
}

/* ---- cmsis_nn/pooling.cc: AverageEval / MaxEval -> *PoolingEvalQuantized ---- */
static int eval_pool(TfLiteContext *context, TfLiteNode *node, int average) {
    const TfLitePoolParams *params = (const TfLitePoolParams *)node->builtin_data;
    const PoolOpData *data = (const PoolOpData *)node->user_data;
    const TfLiteEvalTensor *input = get_eval_input(context, node, 0);
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    if (input->type != kTfLiteInt8) return kTfLiteError;
    RuntimeShape input_shape, output_shape;
    get_tensor_shape(input, &input_shape);
    get_tensor_shape(output, &output_shape);
    const int depth = input_shape.dims[3];                      /* MatchingDim */
    cmsis_nn_dims input_dims = {1, input_shape.dims[1], input_shape.dims[2], depth};
    cmsis_nn_dims output_dims = {1, output_shape.dims[1], output_shape.dims[2], depth};
    cmsis_nn_pool_params pool_params;
    pool_params.stride.h = params->stride_height;
    pool_params.stride.w = params->stride_width;
    pool_params.padding.h = data->reference_op_data.padding.height;
    pool_params.padding.w = data->reference_op_data.padding.width;
    pool_params.activation.min = data->reference_op_data.activation_min;
    pool_params.activation.max = data->reference_op_data.activation_max;
    cmsis_nn_dims filter_dims = {1, params->filter_height, params->filter_width, 1};
    cmsis_nn_context ctx = {NULL, 0};
    if (average) {
        if (data->buffer_idx > -1) ctx.buf = context->get_scratch_buffer(context, data->buffer_idx);
        return arm_avgpool_s8(&ctx, &pool_params, &input_dims, tensor_data(input), &filter_dims,
                              &output_dims, tensor_data(output));
    }
    return arm_max_pool_s8(&ctx, &pool_params, &input_dims, tensor_data(input), &filter_dims,
                           &output_dims, tensor_data(output));
}
static int eval_avgpool(TfLiteContext *context, TfLiteNode *node) { return eval_pool(context, node, 1); }
static int eval_maxpool(TfLiteContext *context, TfLiteNode *node) { return eval_pool(context, node, 0); }

/* ---- cmsis_nn/add.cc: EvalAdd -> EvalAddQuantized (non-broadcast int8 path) ---- */
static int eval_add(TfLiteContext *context, TfLiteNode *node) {
    const AddOpData *data = (const AddOpData *)node->user_data;
    const TfLiteEvalTensor *input1 = get_eval_input(context, node, 0);
    const TfLiteEvalTensor *input2 = get_eval_input(context, node, 1);
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    if (output->type != kTfLiteInt8) return kTfLiteError;
    RuntimeShape s1, s2, so, e1, e2;
    get_tensor_shape(input1, &s1);
    get_tensor_shape(input2, &s2);
    /* reference_ops::ProcessBroadcastShapes: equal extended shapes need no broadcast */
    const int dims_count = s1.size > s2.size ? s1.size : s2.size;
    extended_shape(dims_count, &s1, &e1);
    extended_shape(dims_count, &s2, &e2);
    if (!shapes_equal(&e1, &e2)) return kTfLiteError;         /* broadcasting: not ported */
    get_tensor_shape(output, &so);
    const int size = flat_size(&s1);                            /* MatchingElementsSize */
    if (size != flat_size(&s2) || size != flat_size(&so)) return kTfLiteError;
    return arm_elementwise_add_s8(tensor_data(input1), tensor_data(input2), data->input1_offset,
                                  data->input1_multiplier, data->input1_shift, data->input2_offset,
                                  data->input2_multiplier, data->input2_shift, data->left_shift,
                                  tensor_data(output), data->output_offset, data->output_multiplier,
                                  data->output_shift, data->output_activation_min,
                                  data->output_activation_max, size);
}

/* ---- cmsis_nn/softmax.cc: SoftmaxEval (int8 in, int8 out) ---- */
static int eval_softmax(TfLiteContext *context, TfLiteNode *node) {
    const TfLiteEvalTensor *input = get_eval_input(context, node, 0);
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    const CMSISNNSoftmaxParams op_data = *(const CMSISNNSoftmaxParams *)node->user_data;
    if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8) return kTfLiteError;
    RuntimeShape input_shape, output_shape;
    get_tensor_shape(input, &input_shape);
    get_tensor_shape(output, &output_shape);
    const int trailing_dim = input_shape.size - 1;
    const int outer_size = flat_size_skip_dim(&input_shape, trailing_dim);   /* MatchingFlatSizeSkipDim */
    const int depth = input_shape.dims[trailing_dim];                        /* MatchingDim */
    return arm_softmax_s8(tensor_data(input), outer_size, depth, op_data.softmax_params.input_multiplier,
                          op_data.softmax_params.input_left_shift, op_data.softmax_params.diff_min,
                          tensor_data(output));
}

/* ---- reshape_common.cc: EvalReshapeReference ---- */
static int type_size_of(int type, size_t *bytes) {              /* TfLiteTypeSizeOf */
    switch (type) {
    case kTfLiteInt8: *bytes = 1; return kTfLiteOk;
    case kTfLiteInt32: *bytes = 4; return kTfLiteOk;
    case kTfLiteFloat32: *bytes = 4; return kTfLiteOk;
    default: return kTfLiteError;
    }
}
static int eval_reshape(TfLiteContext *context, TfLiteNode *node) {
    const TfLiteEvalTensor *input = get_eval_input(context, node, 0);
    TfLiteEvalTensor *output = get_eval_output(context, node, 0);
    size_t input_bytes;
    if (type_size_of(input->type, &input_bytes) != kTfLiteOk) return kTfLiteError;
    int count = 1;                                               /* ElementCount */
    for (int i = 0; i < input->dims->size; ++i) count *= input->dims->data[i];
    input_bytes *= count;
    if (input->data != output->data) memcpy_stub(output->data, input->data, input_bytes);
    return kTfLiteOk;
}

/* ---- micro_interpreter_graph.cc: MicroInterpreterGraph::InvokeSubgraph, one node ---- */
int tflm_invoke_node(graph *g) {
    const int subgraph_idx = g->current_subgraph_index;
    const uint32_t i = g->current_operator_index;
    if (i >= g->operators_size) return kTfLiteOk;
    TfLiteNode *node = &g->subgraph_allocations[subgraph_idx].node_and_registrations[i].node;
    const TFLMRegistration *registration =
        g->subgraph_allocations[subgraph_idx].node_and_registrations[i].registration;
    if (g->profiler != NULL) return kTfLiteError;   /* ScopedMicroProfiler: none attached */
    const int invoke_status = registration->invoke(g->context, node);
    if (invoke_status != kTfLiteOk) return invoke_status;
    g->current_operator_index = i + 1;
    return kTfLiteOk;
}

/* ---- set-up (what MicroInterpreter's constructor and the op resolver do; not measured) ----
 * Function and vtable pointers into the host-built structs; registrations[] in the order of
 * the kernel entry points (kernels/build.py ENTRY_POINTS): conv_s8 and conv_1x1_s8 share
 * CONV_2D's Eval. */
typedef struct {
    TfLiteContext *context; micro_context *micro_context; graph *graph;
    TFLMRegistration *registrations;
} tflm_setup_args;

void tflm_setup(const tflm_setup_args *a) {
    static int (*const invoke[])(TfLiteContext *, TfLiteNode *) = {
        eval_conv, eval_conv, eval_depthwise_conv, eval_fully_connected, eval_avgpool,
        eval_maxpool, eval_add, eval_softmax, eval_reshape};
    a->context->get_eval_tensor = MicroContextGetEvalTensor;
    a->context->get_scratch_buffer = MicroContextGetScratchBuffer;
    a->context->impl_ = a->micro_context;
    a->micro_context->vt = &tflm_micro_context_vtable;
    a->micro_context->graph = a->graph;
    a->graph->vt = &tflm_graph_vtable;
    a->graph->context = a->context;
    for (unsigned k = 0; k < sizeof invoke / sizeof invoke[0]; k++) a->registrations[k].invoke = invoke[k];
}
