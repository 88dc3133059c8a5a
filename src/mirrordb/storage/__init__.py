"""Storage: page layout, relation files (smgr), the buffer pool and the control file."""
