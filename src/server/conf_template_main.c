/* Prints the commented configuration file the packages install. */
#include <stdio.h>

#include "options_file.h"

int main(void)
{
    hbd_options_write_template(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
