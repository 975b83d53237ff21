// The one translation unit the build compiles into kernels.fatbin (and NVRTC compiles at run time
// when no fatbin was built): every operation's file, each defining extern "C" kernels.
#include "embed.cu"
#include "rms_norm.cu"
#include "rope.cu"
#include "attention.cu"
#include "activation.cu"
#include "rows.cu"
#include "elementwise.cu"
#include "sample.cu"
#include "gemv.cu"
