/* The model as a typed list of layers. vae_layout() — one pure function of
 * the configuration — writes the list: each layer's kind, input and output
 * shapes, fused activation, inputs (earlier layers or the image batch) and
 * parameter tensors (names, shapes, offsets into the one flat block). The
 * allocation (vae_init), the forward and backward walks, the checkpoint
 * metadata and the PyTorch twin (through vae_layout_json) all read it, so the
 * topology is written once.
 *
 * Activation layouts in memory (per layer, batch B):
 *   flat:    (B, F)          row-major, F = C*H*W features per image, in
 *                            PyTorch's flatten order (c, h, w)
 *   spatial: (C, B, H, W)    channel-major over the whole batch, so a
 *                            convolution over the batch is ONE GEMM
 *                            (C, K) x (K, B*H*W) with no transposes.
 * With C == 1 the two coincide: the image batch x (B, H*W) is both, and so is
 * a 1-channel decoder output. Flatten and unflatten convert between them.
 *
 * Adding a kind: write its forward/backward pair (and scratch size) in a
 * src/model/layers_*.c file, add its enum value below and one row to the
 * table in src/model/layers.c; vae_layout() decides where it goes. The
 * trainer and the checkpoint code need no change. */
#ifndef VAE_LAYERS_H
#define VAE_LAYERS_H

#include <stddef.h>

#include "vae/common.h"
#include "vae/gemm.h"

typedef enum {
    LAYER_LINEAR = 0,   /* flat (B, IN) -> flat (B, OUT); weight (OUT, IN), bias (OUT) */
    LAYER_RELU,         /* any -> same layout */
    LAYER_CONV2D,       /* spatial -> spatial; weight (OC, IC, k, k), bias (OC) */
    LAYER_CONVT2D,      /* spatial -> spatial; weight (IC, OC, k, k), bias (OC) */
    LAYER_FLATTEN,      /* spatial (C, B, H, W) -> flat (B, C*H*W) */
    LAYER_UNFLATTEN,    /* flat (B, C*H*W) -> spatial (C, B, H, W) */
    LAYER_ADD,          /* two inputs of one shape and layout -> their sum */
    LAYER_CONCAT,       /* two flat inputs (B, F1), (B, F2) -> (B, F1+F2) */
    LAYER_GAUSSIAN,     /* flat (B, 2Z) = [mu | logvar] -> z (B, Z); adds KL to the loss */
    LAYER_LATENT_BN,    /* flat (B, Z) -> z (B, Z): batch norm without scale/shift (running
                           mean/var as tensors with no gradient); adds -H(z) to the loss
                           (the entropic autoencoder's latent layer) */
    LAYER_KIND_COUNT
} VaeLayerKind;

typedef enum { VAE_ACT_NONE = 0, VAE_ACT_RELU = 1, VAE_ACT_TANH = 2, VAE_ACT_COUNT } VaeAct;

/* Inputs that are not layers (negative input indices). */
#define VAE_INPUT_X (-1)        /* the image batch, (B, rows*cols) = (1, B, rows, cols) */
#define VAE_INPUT_Y (-2)        /* one-hot labels (B, n_classes) of a conditional model */

#define VAE_INIT_ZEROS 0
#define VAE_INIT_ONES (-1)

#define VAE_MAX_LAYERS 96
#define VAE_MAX_TENSORS 128
#define VAE_LAYER_MAX_PARAMS 4
#define VAE_MAX_NDIM 4

/* One named parameter tensor inside the flat block. */
typedef struct {
    char name[40];              /* PyTorch state_dict name, "enc.0.weight" */
    int ndim;                   /* 1..4 */
    int shape[VAE_MAX_NDIM];    /* unused dims are 0 */
    size_t offset, size;        /* in floats, into Vae.params */
    int fan_in;                 /* PyTorch's fan_in for the default init U(+-1/sqrt(fan_in));
                                   VAE_INIT_ZEROS / VAE_INIT_ONES: a constant (batch-norm buffers) */
} VaeTensor;

typedef struct {
    VaeLayerKind kind;
    char name[32];              /* module path of its parameters ("enc.0", "enc.1.conv1"); "" if none */
    int n_in, in[2];            /* inputs: earlier layer indices or VAE_INPUT_* */
    int ic, ih, iw;             /* first input's shape per image (C, H, W); flat: (F, 1, 1) */
    int c, h, w;                /* output shape per image */
    int spatial;                /* output layout: 1 spatial (C, B, H, W), 0 flat (B, C*H*W) */
    VaeAct act;                 /* activation fused into the layer's output */
    int kernel, stride, pad;    /* conv2d / convt2d */
    int knn;                    /* latent_bn: k of the nearest-neighbour entropy estimate */
    float momentum;             /* latent_bn: running-average momentum (PyTorch's convention) */
    int n_params;
    int param[VAE_LAYER_MAX_PARAMS];    /* indices into the tensor list */
} VaeLayer;

typedef enum { VAE_ARCH_MLP = 0, VAE_ARCH_CONV = 1, VAE_ARCH_RESNET = 2, VAE_ARCH_COUNT } VaeArch;

/* The layer list of one model. Pure data: no pointers, copyable. */
typedef struct {
    int in_dim;                 /* rows * cols */
    int n_layers;
    VaeLayer layers[VAE_MAX_LAYERS];
    int gaussian;               /* index of the latent layer (LAYER_GAUSSIAN, or LAYER_LATENT_BN of an
                                   entropic autoencoder): encoder before, decoder after */
    int n_tensors;
    VaeTensor tensors[VAE_MAX_TENSORS];
    size_t n_params;
} VaeLayout;

/* Everything one layer's forward or backward pass sees. Buffers follow the
 * layouts above with the batch size B. */
typedef struct {
    const VaeLayer *L;
    int B;
    const float *in[2];
    float *din[2];              /* gradients of the inputs, ACCUMULATED (+=); NULL: not wanted */
    int din_fresh[2];           /* backward: din[k] holds garbage and this layer is its first
                                   writer: STORE (=) into it; set only for kinds whose
                                   VaeLayerOps.fresh_din says they can (the walk zeroes it
                                   for the others, which then accumulate) */
    float *out, *dout;          /* output and its gradient (dout may be overwritten by backward) */
    const float *p[VAE_LAYER_MAX_PARAMS];   /* parameter tensors, in the layer's order */
    float *g[VAE_LAYER_MAX_PARAMS];         /* their gradients, ACCUMULATED */
    float *state[VAE_LAYER_MAX_PARAMS];     /* the same tensors, writable: latent_bn's running
                                               statistics, updated by a training forward pass */
    int training;               /* latent_bn: batch statistics (1) or running ones (0) */
    int defer_wgrad;            /* backward, LAYER_LINEAR: input gradient only; the parameter
                                   gradients come later from vae_backward_wgrad (VaeActs) */
    VaePrecision precision;     /* of the layer's GEMMs (the model's, Vae.precision) */
    float *scratch;             /* the kind's scratch_floats(L, B) floats */
    int index;                  /* the layer's index in the list */
    struct VaeDnnl **dnnl;      /* the activation block's oneDNN cache (vae/conv_dnnl.h), or NULL */
    /* LAYER_GAUSSIAN only */
    const float *eps;           /* (B, Z), or NULL for z = mu */
    /* LAYER_GAUSSIAN and LAYER_LATENT_BN: the regulariser, as a sum over the batch
     * of per-image terms (KL; for latent_bn -H of the batch counted once per image) */
    double kl;                  /* forward: the sum */
    float kl_scale;             /* backward: its weight in the objective (beta / B_global) */
    const float *kl_dim_scale;  /* backward, LAYER_GAUSSIAN: (Z) per-dimension factors of kl_scale,
                                   or NULL (KL warm-up and free bits, vae/schedule.h) */
} VaeLayerRun;

typedef struct {
    const char *name;           /* the kind's name in the JSON dump */
    void (*forward)(VaeLayerRun *r);
    void (*backward)(VaeLayerRun *r);
    size_t (*scratch_floats)(const VaeLayer *L, int B);    /* NULL: none */
    int fresh_din;              /* backward honours VaeLayerRun.din_fresh (saves the walk a
                                   memset of the gradient and the layer a read of zeros) */
} VaeLayerOps;

/* The registry: one row per VaeLayerKind (src/model/layers.c). */
extern const VaeLayerOps vae_layer_ops[LAYER_KIND_COUNT];

const char *vae_act_name(VaeAct a);
const char *vae_arch_name(VaeArch a);
/* "mlp" -> VAE_ARCH_MLP; -1 if unknown */
int vae_arch_parse(const char *s);

#endif
