/* maxrss.c - runs a command and prints its peak resident set (KiB) on the last line of stderr.
 *
 * usage: maxrss COMMAND [ARGS...]   exit status: the command's (128 + signal if killed)
 *
 * A process forked from a large one (Python with numpy) carries that process's resident set
 * into its peak (Linux keeps the pre-exec high-water mark in ru_maxrss); forked from this small
 * program, the command's peak is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: maxrss COMMAND [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 1; }
    fprintf(stderr, "maxrss_kib %ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
