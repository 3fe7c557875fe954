// CUDA's built-in vector types (uint3, dim3, float4, ...) and their make_* constructors, with the
// sizes and alignments CUDA gives them: a float4 is 16-byte aligned, so a float4 load from an
// address that is not is caught by the emulator's alignment check, as it would fault on a GPU.
//
// Shared by the kernel-side header (cuda_emu.h) and the emulator runtime, which needs uint3/dim3.
#ifndef CUEMU_VECTOR_TYPES_H
#define CUEMU_VECTOR_TYPES_H

// One vector type with N members of BASE, aligned to ALIGN bytes, plus make_NAME(...).
#define CUEMU_VEC1(NAME, BASE, ALIGN)                                                              \
    struct __attribute__((aligned(ALIGN))) NAME { BASE x; };                                       \
    static inline NAME make_##NAME(BASE x) { NAME v; v.x = x; return v; }
#define CUEMU_VEC2(NAME, BASE, ALIGN)                                                              \
    struct __attribute__((aligned(ALIGN))) NAME { BASE x, y; };                                    \
    static inline NAME make_##NAME(BASE x, BASE y) { NAME v; v.x = x; v.y = y; return v; }
#define CUEMU_VEC3(NAME, BASE, ALIGN)                                                              \
    struct __attribute__((aligned(ALIGN))) NAME { BASE x, y, z; };                                 \
    static inline NAME make_##NAME(BASE x, BASE y, BASE z) {                                       \
        NAME v; v.x = x; v.y = y; v.z = z; return v;                                               \
    }
#define CUEMU_VEC4(NAME, BASE, ALIGN)                                                              \
    struct __attribute__((aligned(ALIGN))) NAME { BASE x, y, z, w; };                              \
    static inline NAME make_##NAME(BASE x, BASE y, BASE z, BASE w) {                              \
        NAME v; v.x = x; v.y = y; v.z = z; v.w = w; return v;                                      \
    }

CUEMU_VEC1(char1, signed char, 1)
CUEMU_VEC2(char2, signed char, 2)
CUEMU_VEC3(char3, signed char, 1)
CUEMU_VEC4(char4, signed char, 4)
CUEMU_VEC1(uchar1, unsigned char, 1)
CUEMU_VEC2(uchar2, unsigned char, 2)
CUEMU_VEC3(uchar3, unsigned char, 1)
CUEMU_VEC4(uchar4, unsigned char, 4)
CUEMU_VEC1(short1, short, 2)
CUEMU_VEC2(short2, short, 4)
CUEMU_VEC3(short3, short, 2)
CUEMU_VEC4(short4, short, 8)
CUEMU_VEC1(ushort1, unsigned short, 2)
CUEMU_VEC2(ushort2, unsigned short, 4)
CUEMU_VEC3(ushort3, unsigned short, 2)
CUEMU_VEC4(ushort4, unsigned short, 8)
CUEMU_VEC1(int1, int, 4)
CUEMU_VEC2(int2, int, 8)
CUEMU_VEC3(int3, int, 4)
CUEMU_VEC4(int4, int, 16)
CUEMU_VEC1(uint1, unsigned int, 4)
CUEMU_VEC2(uint2, unsigned int, 8)
CUEMU_VEC3(uint3, unsigned int, 4)
CUEMU_VEC4(uint4, unsigned int, 16)
CUEMU_VEC1(longlong1, long long, 8)
CUEMU_VEC2(longlong2, long long, 16)
CUEMU_VEC1(ulonglong1, unsigned long long, 8)
CUEMU_VEC2(ulonglong2, unsigned long long, 16)
CUEMU_VEC1(float1, float, 4)
CUEMU_VEC2(float2, float, 8)
CUEMU_VEC3(float3, float, 4)
CUEMU_VEC4(float4, float, 16)
CUEMU_VEC1(double1, double, 8)
CUEMU_VEC2(double2, double, 16)
CUEMU_VEC3(double3, double, 8)

#undef CUEMU_VEC1
#undef CUEMU_VEC2
#undef CUEMU_VEC3
#undef CUEMU_VEC4

// dim3 is a uint3 whose unspecified members default to 1.
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

#endif  // CUEMU_VECTOR_TYPES_H
