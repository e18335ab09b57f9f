/*
 * main.c - the `clann` command: a thin layer over the library (docs/architecture.md, "The
 * command line").
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clann COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  devices   list devices and mark the one 'auto' picks\n"
            "  check     check that devices compute what the CPU reference computes\n"
            "  train     train a model (no options: the default Fashion-MNIST classifier)\n"
            "  eval      evaluate a saved model on labelled data\n"
            "  predict   write a saved model's predictions as CSV\n"
            "  info      show a model file or checkpoint: spec, parameters, sparsity\n"
            "  tune      grid search over training options, scored on a dev split\n"
            "  bench     measure training speed on the Fashion-MNIST MLP\n"
            "  report    write an HTML report of a run folder (clann report RUN_DIR)\n"
            "\n"
            "Run 'clann COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("clann %s\n", clann_version());
        return CLI_OK;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {
        {"devices", cli_devices}, {"check", cli_check}, {"train", cli_train}, {"eval", cli_eval},
        {"predict", cli_predict}, {"info", cli_info}, {"tune", cli_tune},
        {"bench", cli_bench}, {"report", cli_report},
    };
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    }
    return cli_usage("unknown command '%s' (commands: devices, check, train, eval, predict, info, "
                     "tune, bench, report)", cmd);
}
