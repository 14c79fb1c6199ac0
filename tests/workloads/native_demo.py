import sys, time, ctypes, random
sys.path.insert(0, sys.argv[1])
import hx
libc = ctypes.CDLL("libc.so.6")
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
def compare(a, b):
    return (a[0] > b[0]) - (a[0] < b[0])
fn = CMP(compare)
arr = (ctypes.c_int * 2000)(*[random.randrange(1 << 30) for _ in range(2000)])
def sort_with_libc():
    libc.qsort(arr, len(arr), 4, fn)
def callback():
    hx.leaf(0.01)
def through_c():
    hx.outer(callback)
def pure_python():
    return sum(i * i for i in range(20000))
def main():
    while True:
        through_c()
        sort_with_libc()
        pure_python()
        time.sleep(0.005)
main()
