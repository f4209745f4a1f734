/* telemail — file names built from a directory and a name.
 *
 * Both programs keep their state in directories named by the configuration
 * and build file names under them. What this module promises: the result is
 * a new string the caller frees, or NULL when out of memory; nothing is
 * normalised or checked against the file system ("a/" + "b" is "a//b"). */
#ifndef TELEMAIL_PATH_H
#define TELEMAIL_PATH_H

/* dir + "/" + name. */
char *tm_path_join(const char *dir, const char *name);
/* name as it is when it is absolute or base is NULL or empty, else
 * base + "/" + name: a configured file name made absolute against the
 * configuration file's directory. */
char *tm_path_resolve(const char *base, const char *name);

#endif
