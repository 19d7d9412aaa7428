/* rnnck-h5-reader: the helper program the library starts to walk and read
 * untrusted HDF5 files in a process of their own (lib/h5/h5_isolate.c). Not
 * meant to be run by hand; installed in LIBEXECDIR/rnnck/. */
int rnnck__h5_helper_main(int argc, char **argv);

int main(int argc, char **argv) { return rnnck__h5_helper_main(argc, argv); }
