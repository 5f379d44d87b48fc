"""Maps the top-level ``envs/`` and ``agents/`` folders into the ``metarl`` namespace.

Every subpackage must be listed (one ``find_packages`` per mapped folder), or a subfolder
silently drops out of the wheel; pyproject.toml holds all other metadata.
"""

from setuptools import find_packages, setup

MAPPED = {"metarl.envs": "envs", "metarl.agents": "agents"}

packages = find_packages(include=["metarl", "metarl.*"])
package_dir = {"metarl": "metarl"}
for name, folder in MAPPED.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(where=folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
