/*
 * hbeat: the command line tool. Built on the public library only, so it
 * speaks to a server over any transport the library opens by URL.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

static const char main_help[] =
    "Usage: hbeat COMMAND [options]\n"
    "\n"
    "Keep workflow runs alive and steer them, against hbeatd or any\n"
    "Jobmon-compatible server.\n"
    "\n"
    "Commands:\n"
    "  beat [URL] --run ID [--interval S] [--buffer B] [--status S] [--count N]\n"
    "       [--max-failures N]\n"
    "                 heartbeat a run, printing every reply and status change\n"
    "  run create --workflow W [--status S] [--increment S]\n"
    "                                          create a run\n"
    "  run get ID                              show a run\n"
    "  run list [--status S]                   list runs\n"
    "  run set-status ID STATUS [--force]      move a run to STATUS\n"
    "  help [COMMAND], --help                  this help, or a command's\n"
    "  --version                               print the version\n"
    "\n"
    "Environment: HBEAT_URL (server URL), HBEAT_TOKEN, HBEAT_TOKEN_FILE,\n"
    "HBEAT_CLIENT_JOBMON_VERSION.\n"
    "\n"
    "Exit status: 0 success; 1 failure (server or transport error, unknown\n"
    "run, too many failed beats); 2 usage error (bad option or argument, bad\n"
    "URL, unknown URL scheme, transport not built in).\n"
    "\n";

static int usage_error(const char *what)
{
    fprintf(stderr, "hbeat: %s (see hbeat --help)\n", what);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* Each line reaches a pipe as soon as it is printed: people and scripts
       watch `hbeat beat` as it runs. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc < 2)
        return usage_error("no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(main_help, stdout);
        fputs(cli_common_help, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("hbeat %s (library %s)\n", HBEAT_VERSION_STRING, hbeat_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc > 2) {
            static char help_flag[] = "--help";
            char *sub[] = {argv[0], argv[2], help_flag, NULL};
            if (strcmp(argv[2], "beat") == 0)
                return cli_beat(3, sub, 2);
            if (strcmp(argv[2], "run") == 0)
                return cli_run(3, sub, 2);
            return usage_error("no such command");
        }
        fputs(main_help, stdout);
        fputs(cli_common_help, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "beat") == 0)
        return cli_beat(argc, argv, 2);
    if (strcmp(cmd, "run") == 0)
        return cli_run(argc, argv, 2);

    fprintf(stderr, "hbeat: unknown command \"%s\" (see hbeat --help)\n", cmd);
    return CLI_EXIT_USAGE;
}
