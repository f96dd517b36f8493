package notify

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSize is the QR code's side in pixels: sharp on any phone, and an
// Outline key of ~100 characters is 49 modules wide with the quiet zone,
// 10 pixels each.
const qrSize = 512

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// zlibWriters keeps the compressors of QRCode: each holds ~1 MB of tables,
// more than the rest of a QR code's drawing allocates.
var zlibWriters = sync.Pool{New: func() any {
	w, err := zlib.NewWriterLevel(nil, zlib.BestSpeed)
	if err != nil {
		panic(err) // cannot happen: BestSpeed is a valid level
	}
	return w
}}

// QRCode draws text as a QR code (medium error correction, with its quiet
// zone) of 512 × 512 pixels, black on white, as a 1-bit grayscale PNG: the
// key's photo of KeyReady, and of the bot-handler's "My subscription". Text
// too long for a QR code is an error.
//
// It writes the PNG itself rather than through qrcode.Encode, which hands
// image/png a paletted image to compress at its best: that costs 4 to 10 ms
// of CPU per key, most of it reading the pixels one by one, and the
// activation worker draws one per key it delivers. Here each row
// of modules is packed into bits once and repeated, and the rows are
// compressed at zlib's best speed: what remains is encoding the symbol.
func QRCode(text string) ([]byte, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	var idat bytes.Buffer
	z := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(z)
	z.Reset(&idat)
	if _, err := z.Write(qrRows(q.Bitmap(), qrSize)); err != nil {
		return nil, fmt.Errorf("compressing the QR code: %w", err)
	}
	if err := z.Close(); err != nil {
		return nil, fmt.Errorf("compressing the QR code: %w", err)
	}

	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], qrSize) // width
	binary.BigEndian.PutUint32(ihdr[4:], qrSize) // height
	ihdr[8] = 1                                  // bit depth; colour type 0 (gray), default compression and filter, no interlace
	var b bytes.Buffer
	b.Grow(len(pngSignature) + 3*12 + len(ihdr) + idat.Len())
	b.WriteString(pngSignature)
	writeChunk(&b, "IHDR", ihdr[:])
	writeChunk(&b, "IDAT", idat.Bytes())
	writeChunk(&b, "IEND", nil)
	return b.Bytes(), nil
}

// qrRows is the PNG image data of modules (dark = true) scaled to size ×
// size pixels: per row, filter type 0 (none), then one bit per pixel, 0
// black and 1 white. Pixel (x, y) shows module (x·n/size, y·n/size), so
// modules differ in size by at most a pixel.
func qrRows(modules [][]bool, size int) []byte {
	n := len(modules)
	stride := 1 + (size+7)/8
	rows := make([]byte, stride*size)
	for y := range size {
		row := rows[y*stride : (y+1)*stride]
		if y > 0 && y*n/size == (y-1)*n/size {
			copy(row, rows[(y-1)*stride:y*stride])
			continue
		}
		line := modules[y*n/size]
		for x := range size {
			if !line[x*n/size] {
				row[1+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	return rows
}

// writeChunk appends a PNG chunk: length, type, data, CRC of type and data.
func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	var word [4]byte
	binary.BigEndian.PutUint32(word[:], uint32(len(data)))
	b.Write(word[:])
	start := b.Len()
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(word[:], crc32.ChecksumIEEE(b.Bytes()[start:]))
	b.Write(word[:])
}
