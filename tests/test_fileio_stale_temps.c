/* A write killed with -9 leaves its temp file ("<name>.tmp-<pid>-XXXXXX")
 * behind; the next write into that folder removes the temp files whose
 * process is gone, and only those: a live writer's temp file, names that are
 * not ours and the old pid-less form stay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "vae/fileio.h"

static int exists(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return lstat(p, &sb) == 0;
}

static void touch(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(check_write(p, "partial", 7) == 0);
}

int main(void) {
    const char *dir = check_path("run");
    CHECK(mkdir(dir, 0777) == 0);
    /* a pid that is certainly gone: a child that has exited and been reaped */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0 && waitpid(child, NULL, 0) == child);
    char stale[128], stale2[128], live[128];
    snprintf(stale, sizeof stale, "model.safetensors.tmp-%ld-Ab3dE9", (long)child);
    snprintf(stale2, sizeof stale2, "sample-03.png.tmp-%ld-zz9ZZ9", (long)child);
    /* the parent (ctest, or the shell) is alive while this runs */
    snprintf(live, sizeof live, "metrics.csv.tmp-%ld-Qw12eR", (long)getppid());
    const char *others[] = {"model.safetensors.tmp-Ab3dE9", "notes.tmp-12-abc", "data.tmp-x-abcdef", "keep.txt"};
    touch(dir, stale);
    touch(dir, stale2);
    touch(dir, live);
    for (int i = 0; i < 4; i++) touch(dir, others[i]);

    VaeError err;
    char target[4200];
    snprintf(target, sizeof target, "%s/model.safetensors", dir);
    CHECK(vae_write_file(target, "new model", 9, &err) == VAE_OK);
    CHECK_MSG(!exists(dir, stale), "the dead writer's temp file %s was removed", stale);
    CHECK_MSG(!exists(dir, stale2), "every dead writer's temp file in the folder was removed (%s)", stale2);
    CHECK_MSG(exists(dir, live), "a live writer's temp file %s is left alone", live);
    for (int i = 0; i < 4; i++) CHECK_MSG(exists(dir, others[i]), "%s is not a temp file of ours: kept", others[i]);
    CHECK(exists(dir, "model.safetensors"));
    /* and the write itself leaves no temp file of its own */
    CHECK(check_count_entries(dir) == 1 + 1 + 4);
    return check_done("test_fileio_stale_temps");
}
