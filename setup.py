from setuptools import find_packages, setup

setup(
    name='hinas-basicsr',
    version='0.1.0',
    description='HiNAS (memory-efficient hierarchical NAS for image restoration) as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['hinas_basicsr', 'hinas_basicsr.*']),
    python_requires='>=3.10,<3.13',
    install_requires=[
        'basicsr==1.4.2',
        'torch>=2.1',
        'torchvision',
        'opencv-python',
        'lmdb',
        'pyyaml',
        'numpy',
        'scipy',
        'tb-nightly',
        'scikit-image',
        'matplotlib',
        'tqdm',
    ],
    extras_require={
        'onnx': ['onnx', 'onnxruntime'],
        # BM3D, the classical reference of the denoising comparisons: free for non-commercial use only (Tampere
        # University's licence, not Apache-2.0); see the README
        'bm3d': ['bm3d'],
        'dev': ['pytest', 'ruff', 'import-linter', 'hypothesis', 'onnx', 'onnxruntime', 'bm3d'],
    },
    entry_points={
        'console_scripts': [
            'basicsr = hinas_basicsr.cli:basicsr_main',
            'hinas = hinas_basicsr.cli:hinas_main',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'License :: OSI Approved :: Apache Software License',
    ],
)
