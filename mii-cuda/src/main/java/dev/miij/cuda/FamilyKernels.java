package dev.miij.cuda;

import dev.miij.arch.TransformerSpec.Activation;

/**
 * The kernels of the operations that families beyond Llama's shape need: LayerNorm (alone and
 * fused with the residual add), activations without a gate and ReLU, scaling, logit soft-capping,
 * learned positions, and the sigmoid-gated shared expert (ALiBi and soft-capped scores are options of
 * the attention kernels themselves).
 */
record FamilyKernels(CudaKernels.Kernel layerNorm, CudaKernels.Kernel addLayerNorm, CudaKernels.Kernel reluMul,
                     CudaKernels.Kernel activation, CudaKernels.Kernel scale, CudaKernels.Kernel softCap,
                     CudaKernels.Kernel embedPositions, CudaKernels.Kernel sigmoidGatedAdd) {

    static FamilyKernels load(CudaKernels k) {
        return new FamilyKernels(k.kernel("layer_norm"), k.kernel("add_layer_norm"), k.kernel("relu_mul"),
                k.kernel("activation_rows"), k.kernel("scale_inplace"), k.kernel("soft_cap"), k.kernel("embed_positions"),
                k.kernel("sigmoid_gated_add"));
    }

    /** The activation's number in activations.cuh. */
    static int kind(Activation act) {
        return switch (act) {
            case SILU -> 0;
            case GELU_TANH -> 1;
            case GELU -> 2;
            case RELU -> 3;
        };
    }
}
