# Part of the image: the bake boot and every checker must describe trees identically.
# What a migration must keep: entries, types, modes, owners, link counts, sizes, targets, hashes.
manifest_content() {
  (cd "$1" && find . -path ./.datavol -prune -o \
      \( -type d -printf '%p d %m %U:%G\n' \) -o \
      \( -type f -printf '%p f %m %U:%G %n %s\n' \) -o \
      \( -type l -printf '%p l %U:%G -> %l\n' \) -o -printf '%p %y %m %U:%G\n' | LC_ALL=C sort &&
   find . -path ./.datavol -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
manifest_mtimes() {
  (cd "$1" && find . -path ./.datavol -prune -o -printf '%p %T@\n' | LC_ALL=C sort)
}
