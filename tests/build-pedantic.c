/* Compiles the public header alone under -std=c11 -pedantic -Werror: it must need nothing else
 * and must not pull in OpenCL headers. */
#include <clann.h>

#ifdef CL_VERSION_1_0
#error "clann.h must not include OpenCL headers"
#endif

int main(void)
{
    return clann_status_str(CLANN_OK) ? 0 : 1;
}
