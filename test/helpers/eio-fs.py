#!/usr/bin/python3
"""A pass-through FUSE file system that fails chosen files with EIO, for the disk-fault tests.

    eio-fs.py BACKING MOUNTPOINT

Mirrors BACKING at MOUNTPOINT. BACKING/.eio lists one path per line, relative to the mount ("*" for
every file): opening, reading and writing those fails with EIO, as on a disk with bad sectors; the
rest works. The list is read again whenever it changes. The kernel sees a real EIO from a file
system, which is what the program under test gets from its system calls.

No kernel device-mapper here (its "error" target would be the usual way): FUSE is what this machine has.
Needs Debian's python3-fusepy (and fuse3 for fusermount3).
"""
import errno
import os
import sys

import fusepy


class FailingMirror(fusepy.Operations):
    def __init__(self, backing):
        self.backing = os.path.realpath(backing)
        self.control = os.path.join(self.backing, '.eio')
        self.control_mtime = None
        self.failing = set()

    # ---- which paths fail -------------------------------------------------------------------------

    def _fails(self, path):
        try:
            mtime = os.stat(self.control).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self.control_mtime:
            self.control_mtime = mtime
            self.failing = set()
            if mtime is not None:
                with open(self.control) as f:
                    self.failing = {line.strip().lstrip('/') for line in f if line.strip()}
        rel = path.lstrip('/')
        return '*' in self.failing or rel in self.failing

    def _check(self, path):
        if self._fails(path):
            raise fusepy.FuseOSError(errno.EIO)

    def _real(self, path):
        return os.path.join(self.backing, path.lstrip('/'))

    # ---- the file system ----------------------------------------------------------------------------

    def getattr(self, path, fh=None):
        st = os.lstat(self._real(path))
        keys = ('st_mode', 'st_nlink', 'st_uid', 'st_gid', 'st_size', 'st_atime', 'st_mtime', 'st_ctime')
        return {key: getattr(st, key) for key in keys}

    def readdir(self, path, fh):
        return ['.', '..'] + [name for name in os.listdir(self._real(path)) if not (path == '/' and name == '.eio')]

    def access(self, path, mode):
        if not os.access(self._real(path), mode):
            raise fusepy.FuseOSError(errno.EACCES)

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        keys = ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')
        return {key: getattr(st, key) for key in keys}

    def open(self, path, flags):
        self._check(path)
        return os.open(self._real(path), flags)

    def create(self, path, mode, fi=None):
        self._check(path)
        return os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        self._check(path)
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._check(path)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        self._check(path)
        with open(self._real(path), 'r+b') as f:
            f.truncate(length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        self._check(path)
        os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def unlink(self, path):
        os.unlink(self._real(path))

    def rename(self, old, new):
        os.rename(self._real(old), self._real(new))

    def link(self, target, source):
        os.link(self._real(source), self._real(target))

    def symlink(self, target, source):
        os.symlink(source, self._real(target))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._real(path), times)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: eio-fs.py BACKING MOUNTPOINT')
    fusepy.FUSE(FailingMirror(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True, default_permissions=True)
