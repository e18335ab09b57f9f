/*
 * test-registry.c - auto's device choice: the ranking (discrete GPU over integrated over
 * accelerator, then memory and compute units; simulators, emulators, duplicates and OpenCL CPU
 * devices never ranked) on synthetic device lists, and the fallback when a device's kernels
 * fail to build (on PoCL, made eligible for auto by CLANN_AUTO_OPENCL_CPU=1).
 */
#include "backend/registry.h"
#include "testutil.h"

#include <dirent.h>
#include <unistd.h>

static struct clann_device_info dev(int p, int d, const char *platform, const char *name,
                                    enum clann_device_type type, bool unified, double gib,
                                    unsigned units)
{
    struct clann_device_info i;
    memset(&i, 0, sizeof i);
    i.platform = p;
    i.device = d;
    snprintf(i.platform_name, sizeof i.platform_name, "%s", platform);
    snprintf(i.name, sizeof i.name, "%s", name);
    i.type = type;
    i.unified_memory = unified;
    i.global_memory = (uint64_t)(gib * 1073741824.0);
    i.compute_units = units;
    return i;
}

START_TEST(test_ranking)
{
    unsetenv("CLANN_AUTO_OPENCL_CPU");
    struct clann_device_info list[] = {
        dev(-1, -1, "clann", "CPU backend", CLANN_DEVICE_TYPE_CPU_BACKEND, true, 0, 1),
        dev(0, 0, "Oclgrind", "Oclgrind Simulator", CLANN_DEVICE_TYPE_GPU, false, 128, 1),
        dev(1, 0, "Portable Computing Language", "pthread-cpu", CLANN_DEVICE_TYPE_CPU, true, 64,
            16),
        dev(2, 0, "Intel(R) FPGA Emulation Platform for OpenCL(TM)",
            "Intel(R) FPGA Emulation Device", CLANN_DEVICE_TYPE_ACCELERATOR, true, 64, 16),
        dev(3, 0, "Intel(R) OpenCL Graphics", "Intel(R) UHD Graphics 770", CLANN_DEVICE_TYPE_GPU,
            true, 64, 32),
        dev(4, 0, "NVIDIA CUDA", "NVIDIA GeForce RTX 3060", CLANN_DEVICE_TYPE_GPU, false, 12, 28),
        dev(4, 1, "NVIDIA CUDA", "NVIDIA GeForce RTX 4090", CLANN_DEVICE_TYPE_GPU, false, 24,
            128),
        dev(5, 0, "rusticl", "NVIDIA GeForce RTX 4090", CLANN_DEVICE_TYPE_GPU, false, 24, 128),
        dev(6, 0, "Xilinx", "a real accelerator", CLANN_DEVICE_TYPE_ACCELERATOR, false, 16, 8),
    };
    size_t n = sizeof list / sizeof *list;
    const char *why = "unset";
    size_t first = clann__registry_rank(list, n, &why);
    ck_assert_uint_eq(first, 6); /* the discrete GPU with the most memory */
    ck_assert_ptr_nonnull(strstr(why, "GPU"));
    const unsigned expect[] = {5, 0, 0, 0, 3, 2, 1, 0, 4};
    for (size_t i = 0; i < n; i++) {
        printf("%-50s rank %u  %s\n", list[i].name, list[i].rank, list[i].note);
        ck_assert_msg(list[i].rank == expect[i], "%s: rank %u, expected %u", list[i].name,
                      list[i].rank, expect[i]);
        ck_assert_msg(list[i].note[0] != '\0', "%s: no note", list[i].name);
    }
    ck_assert_ptr_nonnull(strstr(list[1].note, "simulator"));
    ck_assert_ptr_nonnull(strstr(list[3].note, "simulator"));
    ck_assert_ptr_nonnull(strstr(list[7].note, "opencl:4:1"));
    ck_assert_ptr_nonnull(strstr(list[2].note, "CPU backend is faster"));

    /* only simulators and a CPU device: the CPU backend, never the simulator */
    first = clann__registry_rank(list, 4, &why);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(list[0].rank, 1);
}
END_TEST

/* Two identical cards under one driver are two devices, and the processes of a parallel job
 * on one machine spread over them by local rank; the other classes keep their order. */
START_TEST(test_local_ranks)
{
    unsetenv("CLANN_AUTO_OPENCL_CPU");
    unsetenv("MPI_LOCALRANKID");
    unsetenv("SLURM_LOCALID");
    struct clann_device_info list[] = {
        dev(-1, -1, "clann", "CPU backend", CLANN_DEVICE_TYPE_CPU_BACKEND, true, 0, 1),
        dev(0, 0, "Intel(R) OpenCL Graphics", "Intel(R) UHD Graphics 770", CLANN_DEVICE_TYPE_GPU,
            true, 64, 32),
        dev(1, 0, "NVIDIA CUDA", "NVIDIA A100", CLANN_DEVICE_TYPE_GPU, false, 40, 108),
        dev(1, 1, "NVIDIA CUDA", "NVIDIA A100", CLANN_DEVICE_TYPE_GPU, false, 40, 108),
        dev(1, 2, "NVIDIA CUDA", "NVIDIA A100", CLANN_DEVICE_TYPE_GPU, false, 40, 108),
    };
    const char *why = "unset";
    /* local rank, the expected ranks (CPU backend, integrated, then the three cards) */
    const struct {
        const char *local;
        unsigned rank[5];
        size_t first;
    } cases[] = {{NULL, {5, 4, 1, 2, 3}, 2},
                 {"0", {5, 4, 1, 2, 3}, 2},
                 {"1", {5, 4, 3, 1, 2}, 3},
                 {"2", {5, 4, 2, 3, 1}, 4},
                 {"4", {5, 4, 3, 1, 2}, 3}}; /* 4 processes on 3 cards: 4 mod 3 */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        if (cases[c].local)
            setenv("OMPI_COMM_WORLD_LOCAL_RANK", cases[c].local, 1);
        else
            unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
        size_t first = clann__registry_rank(list, 5, &why);
        ck_assert_uint_eq(first, cases[c].first);
        for (size_t i = 0; i < 5; i++)
            ck_assert_msg(list[i].rank == cases[c].rank[i], "local rank %s: %s (opencl:%d:%d) "
                          "rank %u, expected %u", cases[c].local ? cases[c].local : "none",
                          list[i].name, list[i].platform, list[i].device, list[i].rank,
                          cases[c].rank[i]);
        if (cases[c].first != 2)
            ck_assert_ptr_nonnull(strstr(list[first].note, "local rank"));
    }
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
}
END_TEST

/* The kernels with one that cannot build, into a fresh folder. */
static void broken_kernels(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/clann-broken-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "cp '%s'/cl/*.cl '%s'/cl/*.clh '%s'/ && printf '__kernel void b(__global float *x)"
             " { x[0] = undefined_fn(1.0f); }\\n' >> '%s'/nn.cl",
             CLANN_SOURCE_ROOT, CLANN_SOURCE_ROOT, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_fallback)
{
    char sel[8][32], dir[256], cmd[300];
    if (test_opencl_devices(sel) == 0)
        return;
    setenv("CLANN_AUTO_OPENCL_CPU", "1", 1);
    struct clann_context_params p = clann_context_default_params();
    p.device = "auto";
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    struct clann_context *ctx = NULL;
    /* intact kernels: auto takes the OpenCL device */
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
    ck_assert_str_eq(clann_context_backend_name(ctx), "opencl");
    ck_assert_uint_eq(clann_context_device(ctx)->rank, 1);
    clann_context_destroy(ctx);
    /* a kernel that fails to build: auto falls back to the CPU backend and says why */
    broken_kernels(dir, sizeof dir);
    p.kernel_dir = dir;
    ck_assert_msg(clann_context_create(&p, &ctx) == CLANN_OK, "%s", clann_last_error());
    ck_assert_str_eq(clann_context_backend_name(ctx), "cpu");
    const char *note = clann_context_device(ctx)->note;
    printf("fallback: %s\n", note);
    ck_assert_ptr_nonnull(strstr(note, "auto passed over"));
    clann_context_destroy(ctx);
    /* an explicit selector does not fall back */
    p.device = sel[0];
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_ERR_KERNEL_BUILD);
    ck_assert_ptr_null(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_ranking);
    tcase_add_test(tc, test_local_ranks);
    tcase_add_test(tc, test_fallback);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
