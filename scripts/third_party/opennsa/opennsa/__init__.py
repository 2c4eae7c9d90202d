# set this to "correct" version when making a release
__version__ = '0-git'

