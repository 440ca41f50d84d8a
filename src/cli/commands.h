/* The `hbeat` commands; each returns the process's exit code. */
#ifndef HBEAT_CLI_COMMANDS_H
#define HBEAT_CLI_COMMANDS_H

/* hbeat beat [URL] --run ID ...; argv[first] is the first argument after "beat". */
int cli_beat(int argc, char **argv, int first);

/* hbeat run create|get|list|set-status ...; argv[first] follows "run". */
int cli_run(int argc, char **argv, int first);

#endif /* HBEAT_CLI_COMMANDS_H */
