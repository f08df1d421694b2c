/* A stand-in for Windows' bcryptprimitives.dll, for running Rust programs under Wine 8 only.
 *
 * Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll, which Wine 8 does not
 * ship: a Rust program then exits with code 53 before main. This DLL exports ProcessPrng and fills
 * the buffer from advapi32's SystemFunction036 (RtlGenRandom), which Wine has. Real Windows has
 * the real DLL; never install this anywhere but a test Wine prefix's system32.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll ProcessPrng.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG: fill a large request in pieces. */
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
