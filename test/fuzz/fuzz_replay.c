/* Runs a fuzz target over files and directories (its seed corpus), for
 * builds without libFuzzer: the suite replays every seed on every run.
 * Prints "fuzz-replay: N passed, 0 failed"; a crash fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <telemail/buf.h>
#include <telemail/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		exit(2);
	}
	if (S_ISDIR(st.st_mode)) {
		size_t n = 0;
		struct dirent **names;
		int k = scandir(path, &names, NULL, alphasort);
		for (int i = 0; i < k; i++) {
			if (names[i]->d_name[0] != '.') {
				char sub[4096];
				snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
				n += run_path(sub);
			}
			free(names[i]);
		}
		free(names);
		return n;
	}
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	if (tm_buf_read_file(&b, path, 16u << 20, &err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		exit(2);
	}
	LLVMFuzzerTestOneInput(b.data, b.len);
	tm_buf_fini(&b);
	return 1;
}

int main(int argc, char **argv)
{
	size_t n = 0;
	for (int i = 1; i < argc; i++)
		n += run_path(argv[i]);
	printf("fuzz-replay: %zu passed, 0 failed\n", n);
	return n > 0 ? 0 : 1;
}
