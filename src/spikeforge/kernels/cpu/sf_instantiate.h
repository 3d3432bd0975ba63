/*
 * Instantiates a kernel family's body once per element type. A family file (lif.c,
 * alif.c, leaky.c) includes this header outside its body (SF_T undefined) with SF_SELF
 * defined as its own file name; the header includes that file back with SF_T, SF_FN,
 * SF_EXP and SF_FABS set for float, then for double. The build compiles the float and the
 * double half as two objects in parallel (-DSF_ONLY_F32 / -DSF_ONLY_F64); without either
 * macro one object holds both.
 */
#ifndef SF_SELF
#error "define SF_SELF as the including file's name before including sf_instantiate.h"
#endif

#ifndef SF_ONLY_F64
#define SF_T float
#define SF_FN(name) name##_f32
#define SF_EXP expf
#define SF_FABS fabsf
#define SF_FMA __builtin_fmaf
#include SF_SELF
#undef SF_T
#undef SF_FN
#undef SF_EXP
#undef SF_FABS
#undef SF_FMA
#endif

#ifndef SF_ONLY_F32
#define SF_T double
#define SF_FN(name) name##_f64
#define SF_EXP exp
#define SF_FABS fabs
#define SF_FMA __builtin_fma
#include SF_SELF
#undef SF_T
#undef SF_FN
#undef SF_EXP
#undef SF_FABS
#undef SF_FMA
#endif

#undef SF_SELF
