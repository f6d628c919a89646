declare module '*.sql' {
  const text: string
  export default text
}

// Imported `with { type: 'file' }`: the path of the file (in the binary: /$bunfs/…), read with Bun.file.
declare module 'swagger-ui-dist/swagger-ui.css' {
  const path: string
  export default path
}
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const path: string
  export default path
}
