"""Reference files written by numpy itself, for test/data/*.test.ts. Run: python3 make.py"""
import numpy as np

def save(name, a, version=None):
    with open(name, 'wb') as f:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)

m = np.arange(12).reshape(3, 4)
save('f32_le.npy', (m / 4 - 1).astype('<f4'))
save('f32_be.npy', (m / 4 - 1).astype('>f4'))
save('f64_be.npy', (m / 3).astype('>f8'))
halves = np.array([0, 1, -2, 0.5, 65504, 6.1035156e-05, 5.9604645e-08, np.inf], dtype='<f2')
save('f16_le.npy', halves)
save('f16_be.npy', halves.astype('>f2'))
save('i8.npy', np.array([-128, -1, 0, 1, 127], dtype='i1'))
save('u8.npy', np.array([[0, 1], [254, 255]], dtype='u1'))
save('i32_be.npy', np.array([-2147483648, -1, 0, 7, 2147483647], dtype='>i4'))
save('i64_le.npy', np.array([-(2**63), -1, 0, 2**53 + 1, 2**63 - 1], dtype='<i8'))
save('i64_be.npy', np.array([-(2**63), -1, 0, 2**53 + 1, 2**63 - 1], dtype='>i8'))
save('u16_be.npy', np.array([0, 1, 65535], dtype='>u2'))
save('bool.npy', np.array([[True, False, True], [False, False, True]]))
save('scalar.npy', np.float32(3.5))
save('empty.npy', np.zeros((0, 4), dtype='<f4'))
save('v2.npy', np.arange(6, dtype='<i4').reshape(2, 3), version=(2, 0))
save('v3.npy', np.arange(6, dtype='<i4').reshape(2, 3), version=(3, 0))
save('fortran.npy', np.asfortranarray((m / 4).astype('<f4')))
save('complex.npy', np.array([1 + 2j], dtype='<c8'))
save('unicode.npy', np.array(['ab', 'c']))

x = (np.arange(20, dtype='<f4').reshape(5, 4) / 20)
y = np.array([0, 1, 2, 1, 0], dtype='<i8')
np.savez('stored.npz', input=x, labels=y)
np.savez_compressed('deflated.npz', input=x, labels=y)
np.savez('positional.npz', x)
np.savez('two_inputs.npz', a=x[:3, :2].copy(), b=np.array([1, 2, 3], dtype='<i8'), extra=np.zeros(1, dtype='<f4'))
np.savez('float64_input.npz', input=x.astype('<f8'), labels=y)
np.savez('wrong_shape.npz', input=np.zeros((5, 3), dtype='<f4'), labels=y)
np.savez('float_labels.npz', input=x, labels=y.astype('<f4'))
np.savez('short_labels.npz', input=x, labels=y[:4].copy())
# zip64 records (numpy writes them for members over 4 GB; forced here on small ones)
import zipfile
with zipfile.ZipFile('zip64.npz', 'w', allowZip64=True) as z:
    for k, a in [('input', x), ('labels', y)]:
        with z.open(k + '.npy', 'w', force_zip64=True) as f:
            np.lib.format.write_array(f, a, allow_pickle=False)
