/* HOT_KERNEL marks the library's own hot loops (its sparse and int8 rows, the softmax). A
 * portable build (make PORTABLE=1, which packages use: they cannot assume the machine)
 * builds each twice with GCC's target_clones, for x86-64-v3 (AVX2, FMA) and for any x86-64,
 * and the loader takes the one the CPU runs; a native build (-march=x86-64-v3) needs one.
 * OpenBLAS and oneDNN choose their own kernels at run time already. */
#ifndef SHELF_CORE_KERNELS_H
#define SHELF_CORE_KERNELS_H

#if defined(SHELF_PORTABLE) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HOT_KERNEL
#endif

#endif
