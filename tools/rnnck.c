#include "rnnck.h"
#include <stdio.h>
int main(void) { printf("%s\n", rnnck_version()); return 0; }
