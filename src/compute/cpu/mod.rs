//! CPU kernels: scalar reference, AVX2/FMA and NEON picked at run time.
