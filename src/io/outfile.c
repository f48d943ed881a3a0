#include "io/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"

/* The folder holding path ("." for a bare name), malloc'ed; NULL out of memory. */
static char *folder_of(const char *path)
{
    char *copy = mem_strdup(path), *dir = copy ? mem_strdup(dirname(copy)) : NULL;
    mem_free(copy);
    return dir;
}

static const char *kind_of(mode_t mode)
{
    return S_ISLNK(mode) ? "a symbolic link" : S_ISDIR(mode) ? "a directory"
         : S_ISCHR(mode) || S_ISBLK(mode) ? "a device" : S_ISFIFO(mode) ? "a FIFO"
         : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

/* SHELF_OK if path may be written: a regular file or a new name, in an existing folder
 * that can be written; else SHELF_EIO with a message naming path and why not. */
static shelf_status outfile_check(const char *path, shelf_error *err)
{
    struct stat st;
    if (!path || !*path)
        return err_set(err, SHELF_EIO, "an output path is empty");
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return err_set(err, SHELF_EIO, "%s: is %s; an output must be a regular file or a "
                       "new name", path, kind_of(st.st_mode));
    if (lstat(path, &st) != 0 && errno != ENOENT)
        return err_set(err, SHELF_EIO, "%s: %s", path, strerror(errno));
    char *dir = folder_of(path);
    if (!dir)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    shelf_status s = SHELF_OK;
    if (stat(dir, &st) != 0)
        s = err_set(err, SHELF_EIO, "%s: cannot write in %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        s = err_set(err, SHELF_EIO, "%s: cannot write in %s: not a directory", path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        s = err_set(err, SHELF_EIO, "%s: cannot write in %s: %s", path, dir, strerror(errno));
    mem_free(dir);
    return s;
}

shelf_status outfile_open(outfile *o, const char *path, shelf_error *err)
{
    memset(o, 0, sizeof *o);
    shelf_status s = outfile_check(path, err);
    if (s != SHELF_OK)
        return s;
    size_t n = strlen(path) + 16;
    o->path = mem_strdup(path);
    o->tmp = mem_calloc(n, 1); /* "": nothing to remove, if path's copy fails */
    if (!o->path || !o->tmp) {
        outfile_close(o, 0, NULL);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd >= 0 && fchmod(fd, 0644) == 0 && (o->f = fdopen(fd, "wb")))
        return SHELF_OK;
    s = err_set(err, SHELF_EIO, "%s: cannot create a temporary file: %s", path,
                strerror(errno));
    if (fd >= 0)
        close(fd);
    else
        o->tmp[0] = '\0'; /* nothing to remove */
    outfile_close(o, 0, NULL);
    return s;
}

/* fsync the folder holding path, so that the rename itself survives a crash. */
static void sync_dir(const char *path)
{
    char *dir = folder_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    mem_free(dir);
}

/* Flushes f and checks that every write to it succeeded; name is its path or "standard
 * output". SHELF_OK, or SHELF_EIO with "NAME: cannot write: REASON". */
static shelf_status outfile_flush(FILE *f, const char *name, shelf_error *err)
{
    int before = errno; /* the reason of a write that failed earlier, if nothing since */
    errno = 0;
    if (fflush(f) == 0 && !ferror(f))
        return SHELF_OK;
    int e = errno ? errno : before ? before : EIO;
    return err_set(err, SHELF_EIO, "%s: cannot write: %s", name, strerror(e));
}

shelf_status outfile_close(outfile *o, int commit, shelf_error *err)
{
    shelf_status s = SHELF_OK;
    if (commit && o->f) {
        s = outfile_flush(o->f, o->path, err);
        if (s == SHELF_OK && fsync(fileno(o->f)) != 0)
            s = err_set(err, SHELF_EIO, "%s: cannot write: %s", o->path, strerror(errno));
    }
    if (o->f && fclose(o->f) != 0 && commit && s == SHELF_OK)
        s = err_set(err, SHELF_EIO, "%s: cannot write: %s", o->path, strerror(errno));
    o->f = NULL;
    if (commit && s == SHELF_OK && rename(o->tmp, o->path) != 0)
        s = err_set(err, SHELF_EIO, "%s: cannot write: %s", o->path, strerror(errno));
    else if (commit && s == SHELF_OK)
        sync_dir(o->path);
    if (o->tmp && o->tmp[0] && (!commit || s != SHELF_OK))
        unlink(o->tmp);
    mem_free(o->tmp);
    mem_free(o->path);
    o->tmp = o->path = NULL;
    return s;
}

/* The public handle: an outfile of its own, so that the CLI and library users get the same
 * atomic writes as model files. */
struct shelf_outfile {
    outfile o;
};

shelf_status shelf_outfile_check(const char *path, shelf_error *err)
{
    return outfile_check(path, err);
}

shelf_status shelf_outfile_open(const char *path, shelf_outfile **out, shelf_error *err)
{
    if (!out)
        return err_set(err, SHELF_EINVAL, "shelf_outfile_open: out is NULL");
    *out = mem_alloc(sizeof **out);
    if (!*out)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    shelf_status s = outfile_open(&(*out)->o, path, err);
    if (s != SHELF_OK) {
        mem_free(*out);
        *out = NULL;
    }
    return s;
}

FILE *shelf_outfile_stream(const shelf_outfile *o)
{
    return o ? o->o.f : NULL;
}

shelf_status shelf_outfile_commit(shelf_outfile *o, shelf_error *err)
{
    if (!o)
        return err_set(err, SHELF_EINVAL, "shelf_outfile_commit: no file");
    shelf_status s = outfile_close(&o->o, 1, err);
    mem_free(o);
    return s;
}

void shelf_outfile_discard(shelf_outfile *o)
{
    if (!o)
        return;
    outfile_close(&o->o, 0, NULL);
    mem_free(o);
}

shelf_status shelf_outfile_flush(FILE *f, const char *name, shelf_error *err)
{
    if (!f || !name)
        return err_set(err, SHELF_EINVAL, "shelf_outfile_flush: no stream or no name");
    return outfile_flush(f, name, err);
}
