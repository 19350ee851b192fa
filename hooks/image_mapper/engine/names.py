"""The ImageMap API's names (design.md#imagemap), defined once, below everything that uses
them: the resource (`image_mapper.engine.imagemap`) and the decision record kept on a Namespace
(`image_mapper.engine.record`) both live in this API group."""

GROUP = "mapper.imagerelocation.pivotal.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ImageMap"
PLURAL = "imagemaps"
